"""SSM Parameter Store: the AWS rules moto does not enforce (see the server's docstring)."""

import re


def patch():
    from moto.ssm import responses as ssm_responses
    from moto.ssm.exceptions import SSMException, ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.core.responses import ActionResult

    original_put = SimpleSystemManagerBackend.put_parameter

    def put_parameter(self, name, description, value, parameter_type, allowed_pattern, *a, **kw):
        if allowed_pattern and value is not None and not re.search(allowed_pattern, value):
            # AWS's exception and wording.
            raise SSMException(
                "ParameterPatternMismatchException",
                f"Parameter value, cannot be validated against allowedPattern: {allowed_pattern}",
            )
        # Intelligent-Tiering is an instruction: AWS stores the tier it chose, Standard unless
        # the value needs Advanced (over 4 KB), and reports that one. moto echoes the request.
        if kw.get("tier") == "Intelligent-Tiering":
            kw["tier"] = "Advanced" if value is not None and len(value.encode()) > 4096 else "Standard"
        return original_put(self, name, description, value, parameter_type, allowed_pattern, *a, **kw)

    SimpleSystemManagerBackend.put_parameter = put_parameter

    def describe_parameters(self):
        page_size = self._get_param("MaxResults") or 50
        if not 1 <= int(page_size) <= 50:
            raise ValidationException(
                f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to "
                "satisfy constraint: Member must have value less than or equal to 50"
            )
        page_size = int(page_size)
        start = int((self._get_param("NextToken") or "0").strip() or "0")
        result = self.ssm_backend.describe_parameters(
            self._get_param("Filters"), self._get_param("ParameterFilters")
        )
        page = result[start : start + page_size]
        response = {"Parameters": [p.describe_response_object(False) for p in page]}
        if start + page_size < len(result):
            response["NextToken"] = str(start + page_size)
        return ActionResult(response)

    ssm_responses.SimpleSystemManagerResponse.describe_parameters = describe_parameters
