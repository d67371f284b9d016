"""Smithy RPC v2 CBOR in front of moto's Query protocol, for CloudWatch.

aws-sdk-cloudwatch 1.100 and later (and botocore since 1.38) speak Smithy RPC v2 CBOR to
CloudWatch: `POST /service/GraniteServiceVersion20100801/operation/<Operation>` with a CBOR
body. moto 5.2 serves CloudWatch only over the Query protocol (form fields in, XML out), so
this module translates, using botocore's CloudWatch service model for the shapes:

    request:  CBOR map -> botocore's QuerySerializer -> form fields -> moto
    response: moto's XML -> botocore's QueryParser -> dict -> CBOR map (timestamps as tag 1,
              epoch seconds, as the protocol says)
    errors:   moto's <Error><Code> -> `{"__type": code, "message": ...}` and the
              `x-amzn-query-error: <code>;Sender` header AWS sends for query-compatible
              services, which the SDKs read to keep the Query error codes.

Nothing here knows an operation by name: every CloudWatch operation moto serves is served.
An operation moto fails on (or does not serve) answers 500 InternalFailure in CBOR, as AWS
would answer an internal error, never an HTML page the SDK cannot read.

Known difference: moto's XML normalises line endings, so a `\r\n` in a string reads back as
`\n` (AWS keeps it).
"""

import io
from urllib.parse import urlencode

import botocore.session
import cbor2
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer

PATH_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
HEADERS = [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]

_model = botocore.session.get_session().get_service_model("cloudwatch")


def is_cbor_request(environ):
    return environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor" and environ.get(
        "PATH_INFO", ""
    ).startswith(PATH_PREFIX)


def operation_name(environ):
    return environ["PATH_INFO"][len(PATH_PREFIX):]


def to_query(environ, body):
    """Rewrites a CBOR request in place as the Query request moto understands."""
    operation = _model.operation_model(operation_name(environ))
    params = cbor2.loads(body) if body else {}
    form = QuerySerializer().serialize_to_request(params, operation)["body"]
    encoded = urlencode(form).encode()
    environ["PATH_INFO"] = "/"
    environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    environ["CONTENT_LENGTH"] = str(len(encoded))
    environ["wsgi.input"] = io.BytesIO(encoded)


def call(moto_app, environ, start_response):
    """Runs the (rewritten) request through moto and answers it in CBOR."""
    try:
        return translate(moto_app, environ, start_response)
    except Exception as error:  # noqa: BLE001 - any failure is the service's, as on AWS
        return error_answer(500, "InternalFailure", f"emulator: {type(error).__name__}: {error}")(
            environ, start_response
        )


def translate(moto_app, environ, start_response):
    operation = _model.operation_model(operation_name(environ))
    to_query(environ, environ.get("plumb.body", b""))
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = headers

    chunks = moto_app(environ, capture)
    xml = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    status = captured["status"]
    if status >= 300:
        parsed = QueryParser().parse({"body": xml, "headers": {}, "status_code": status}, None)
        error = parsed.get("Error", {})
        return error_answer(status, error.get("Code", "InternalFailure"), error.get("Message", ""))(
            environ, start_response
        )
    parsed = QueryParser().parse({"body": xml, "headers": {}, "status_code": status}, operation.output_shape)
    parsed.pop("ResponseMetadata", None)
    return answer(200, parsed, [])(environ, start_response)


def error_answer(status, code, message):
    # AWS's query-compatible services say whose fault it is: Sender (4xx) or Receiver (5xx).
    fault = "Receiver" if status >= 500 else "Sender"
    return answer(status, {"__type": code, "message": message}, [("x-amzn-query-error", f"{code};{fault}")])


def answer(status, value, extra_headers):
    body = cbor2.dumps(value, datetime_as_timestamp=True, timezone=None)

    def app(environ, start_response):
        start_response(f"{status} {'OK' if status < 300 else 'Error'}", HEADERS + extra_headers)
        return [body]

    return app
