"""SSM Parameter Store: the AWS rules moto does not enforce (see the server's docstring)."""

import datetime
import json
import re

from faults import FAULTS


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
        # A Standard parameter holds at most 4 KB (AWS: ValidationException); moto stores more.
        previous = self._parameters.get(name) if name in self._parameters else None
        tier = kw.get("tier") or (previous[-1].tier if previous else None) or "Standard"
        if tier == "Standard" and value is not None and len(value.encode()) > 4096:
            raise ValidationException(
                "Standard tier parameters support a maximum parameter value of 4096 characters. "
                "To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            )
        return original_put(self, name, description, value, parameter_type, allowed_pattern, *a, **kw)

    SimpleSystemManagerBackend.put_parameter = put_parameter

    def describe_parameters(self):
        page_size = self._get_param("MaxResults") or 50
        if not 1 <= int(page_size) <= 50:
            raise ValidationException(
                f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to "
                "satisfy constraint: Member must have value less than or equal to 50"
            )
        page_size = min(int(page_size), FAULTS.page_cap(self.current_account, "DescribeParameters") or 50)
        start = int((self._get_param("NextToken") or "0").strip() or "0")
        result = self.ssm_backend.describe_parameters(
            self._get_param("Filters"), self._get_param("ParameterFilters")
        )
        page = result[start : start + page_size]
        response = {"Parameters": [metadata_record(p, self.region) for p in page]}
        if start + page_size < len(result):
            response["NextToken"] = str(start + page_size)
        return json_body(response)

    ssm_responses.SimpleSystemManagerResponse.describe_parameters = describe_parameters

    def get_parameters_by_path(self):
        result, next_token = self.ssm_backend.get_parameters_by_path(
            self._get_param("Path"),
            self._get_param("Recursive", False),
            self._get_param("ParameterFilters"),
            next_token=self._get_param("NextToken"),
            max_results=self._get_param("MaxResults", 10),
        )
        decrypt = self._get_param("WithDecryption")
        response = {"Parameters": [value_record(p, decrypt, self.region) for p in result]}
        if next_token:
            response["NextToken"] = next_token
        return json_body(response)

    ssm_responses.SimpleSystemManagerResponse.get_parameters_by_path = get_parameters_by_path

    patch_sorted_index()


# The members of AWS's Parameter and ParameterMetadata shapes, in the order AWS lists them.
PARAMETER_MEMBERS = ("Name", "Type", "Value", "Version", "Selector", "SourceResult", "LastModifiedDate", "ARN",
                     "DataType")
METADATA_MEMBERS = ("Name", "ARN", "Type", "KeyId", "LastModifiedDate", "LastModifiedUser", "Description",
                    "AllowedPattern", "Version", "Tier", "Policies", "DataType")


def json_body(response):
    """A response of SSM's JSON protocol, as moto's serializer would send it."""
    return json.dumps(response), {"Content-Type": "application/x-amz-json-1.1"}


def value_record(parameter, decrypt, region):
    """A GetParametersByPath item, written directly. moto's generic serializer walks the
    botocore model for every member of every item (three quarters of a page's time), which
    would make the benchmark measure moto's serializer; the records are the same."""
    return shaped(parameter.response_object(decrypt, region), PARAMETER_MEMBERS)


def metadata_record(parameter, region):
    """A DescribeParameters item, written directly (see `value_record`), with the
    parameter's ARN: AWS lists it (ParameterMetadata.ARN), moto leaves it out. plumb's
    account guard reads the account from it."""
    from moto.ssm.utils import parameter_arn

    record = parameter.describe_response_object(False)
    record["ARN"] = parameter_arn(parameter.account_id, region, parameter.name)
    return shaped(record, METADATA_MEMBERS)


def shaped(fields, members):
    """`fields` as AWS's JSON protocol writes a structure of `members`: members without a
    value left out, timestamps as epoch seconds to the millisecond (as moto's serializer)."""
    from botocore.utils import parse_to_aware_datetime
    from moto.core.serialize import TimestampSerializer

    record = {}
    for member in members:
        value = fields.get(member)
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            value = TimestampSerializer._timestamp_unixtimestamp(parse_to_aware_datetime(value))
        record[member] = value
    return record


def patch_sorted_index():
    """Pages of GetParametersByPath and DescribeParameters (recursive Path filter, nothing
    else) from a sorted index of names, as AWS serves them: moto scans its whole store for
    every page (O(N) a page, minutes for 10,000 parameters), which would make the benchmark
    measure moto instead of plumb. The index is rebuilt lazily after a parameter is created
    or deleted. Other filters keep moto's own path."""
    import bisect

    from moto.ssm.models import SimpleSystemManagerBackend

    def invalidating(method):
        def wrapper(self, *args, **kwargs):
            self._plumb_names = None
            return method(self, *args, **kwargs)

        return wrapper

    for name in ("put_parameter", "delete_parameter", "delete_parameters"):
        setattr(SimpleSystemManagerBackend, name, invalidating(getattr(SimpleSystemManagerBackend, name)))

    def under(self, path):
        """The names under `path` (recursive), in order: a slice of the sorted index."""
        names = getattr(self, "_plumb_names", None)
        if names is None:
            names = sorted(self._parameters.keys())
            self._plumb_names = names
        prefix = path.rstrip("/") + "/"
        low = bisect.bisect_left(names, prefix)
        high = bisect.bisect_left(names, prefix[:-1] + chr(ord("/") + 1))
        return names[low:high]

    original_by_path = SimpleSystemManagerBackend.get_parameters_by_path

    def get_parameters_by_path(self, path, recursive, filters=None, next_token=None, max_results=10):
        if not recursive or filters or path == "/" or int(max_results) > 10:
            return original_by_path(self, path, recursive, filters, next_token, max_results)
        start, size = int(next_token or 0), int(max_results)
        names = under(self, path)
        page = [self.get_parameter(n) for n in names[start : start + size]]
        return page, (str(start + size) if start + size < len(names) else None)

    SimpleSystemManagerBackend.get_parameters_by_path = get_parameters_by_path

    original_describe = SimpleSystemManagerBackend.describe_parameters

    def describe_parameters(self, filters, parameter_filters):
        only_path = (
            not filters
            and parameter_filters
            and len(parameter_filters) == 1
            and parameter_filters[0].get("Key") == "Path"
            and parameter_filters[0].get("Option") == "Recursive"
            and len(parameter_filters[0].get("Values", [])) == 1
            and parameter_filters[0]["Values"][0] != "/"
        )
        if not only_path:
            return original_describe(self, filters, parameter_filters)
        return _LazyParameters(self, under(self, parameter_filters[0]["Values"][0]))

    SimpleSystemManagerBackend.describe_parameters = describe_parameters


class _LazyParameters:
    """The parameters of a list of names, looked up only for the slice a page takes."""

    def __init__(self, backend, names):
        self.backend, self.names = backend, names

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.backend.get_parameter(n) for n in self.names[index]]
        return self.backend.get_parameter(self.names[index])
