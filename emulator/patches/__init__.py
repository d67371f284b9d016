"""moto extended where plumb's tests need AWS's behaviour: one module per service, mirroring src/kinds/."""
