"""plumb's AWS emulator: moto's server, in-process, with the extensions plumb's tests need.

Started by the Rust test harness (tests/support/emulator.rs), the demo and the benchmark:

    python emulator/server.py [--port 0]

prints `PORT <n>` once it listens on 127.0.0.1:<n>, and exits when its standard input closes
(so a test binary that dies never leaves it behind).

What it adds to moto, and why (see ../shared/notes/moto-coverage.md for the measurements):

* Accounts from access keys. An access key id ending in 12 digits (`AKIDTEST111122223333`)
  puts the request in that account, as moto's `x-moto-account-id` header would. Every test
  uses its own account, so tests share one server without seeing each other, and plumb runs
  unchanged: only AWS_ACCESS_KEY_ID differs.
* Call counts per account and operation: `GET /_plumb/calls?account=...`; seconds between
  the first and last call of one operation: `GET /_plumb/calls/span?account=...&operation=...`. The benchmark and
  the efficiency tests read them: AWS calls are the figure that does not depend on the machine.
* Fault injection, per account and operation (moto has none): `POST /_plumb/faults` with
  `{"account", "operation", "kind": "throttle"|"error"|"latency"|"quota", ...}`.
    - throttle: the next `count` calls answer 400 ThrottlingException.
    - error:    the next `count` calls answer `status` (default 500) with `code`.
    - latency:  every call sleeps `delay_ms` first.
    - quota:    a token bucket of `rate` calls a second (burst `burst`); calls over it answer
                400 ThrottlingException, as AWS does when a quota is exceeded.
  `DELETE /_plumb/faults?account=...` removes an account's rules.
* AWS rules moto does not enforce:
    - SSM PutParameter checks the value against AllowedPattern
      (AWS: ParameterPatternMismatchException; moto stores anything).
    - SSM DescribeParameters honours MaxResults (1..50) like AWS; moto pages by 10 whatever
      is asked, which would hide whether plumb reads in pages of 50.
* `POST /_plumb/seed/ssm` writes parameters straight into moto's store (no HTTP round trip
  per parameter), so the benchmark can seed 10,000 parameters in seconds.

Later resource kinds add their gaps here (IAM DeleteConflict, ListGroups PathPrefix, Budgets
updates and subscribers, the CloudWatch protocol).
"""

import argparse
import io
import json
import os
import re
import sys
import threading
import time
from collections import defaultdict
from urllib.parse import parse_qs

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)

DEFAULT_ACCOUNT = "123456789012"
ACCESS_KEY_ACCOUNT = re.compile(r"(\d{12})$")
CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


# --- AWS rules moto does not enforce --------------------------------------------------


def patch_ssm():
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


# --- faults, counts, accounts ---------------------------------------------------------


class Faults:
    """Fault rules and call counts, per account. Guarded by one lock: moto serves threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = defaultdict(list)  # account -> [rule]
        self.calls = defaultdict(lambda: defaultdict(int))  # account -> operation -> n
        self.times = {}  # (account, operation) -> [first, last] monotonic seconds

    def add(self, rule):
        rule = dict(rule)
        rule.setdefault("operation", "*")
        if rule["kind"] == "quota":
            rule["tokens"] = float(rule.get("burst", rule["rate"]))
            rule["stamp"] = time.monotonic()
        with self.lock:
            self.rules[rule["account"]].append(rule)

    def clear(self, account):
        with self.lock:
            self.rules.pop(account, None)

    def record(self, account, operation):
        now = time.monotonic()
        with self.lock:
            self.calls[account][operation] += 1
            self.times.setdefault((account, operation), [now, now])[1] = now

    def counts(self, account):
        with self.lock:
            return dict(self.calls.get(account, {}))

    def decide(self, account, operation):
        """Returns (delay_seconds, error_response or None) for this call."""
        delay, error = 0.0, None
        with self.lock:
            for rule in self.rules.get(account, []):
                if rule["operation"] not in ("*", operation):
                    continue
                kind = rule["kind"]
                if kind == "latency":
                    delay += rule.get("delay_ms", 0) / 1000.0
                elif error is None and kind in ("throttle", "error") and rule.get("count", 1) > 0:
                    rule["count"] = rule.get("count", 1) - 1
                    if kind == "throttle":
                        error = (400, "ThrottlingException", "Rate exceeded")
                    else:
                        error = (rule.get("status", 500), rule.get("code", "InternalFailure"),
                                 "injected fault")
                elif error is None and kind == "quota":
                    now = time.monotonic()
                    burst = float(rule.get("burst", rule["rate"]))
                    rule["tokens"] = min(burst, rule["tokens"] + (now - rule["stamp"]) * rule["rate"])
                    rule["stamp"] = now
                    if rule["tokens"] >= 1.0:
                        rule["tokens"] -= 1.0
                    else:
                        rule["throttled"] = rule.get("throttled", 0) + 1
                        error = (400, "ThrottlingException", "Rate exceeded")
        return delay, error


def error_response(request_kind, status, code, message):
    if request_kind == "json":
        body = json.dumps({"__type": code, "message": message})
        return Response(body, status=status, content_type="application/x-amz-json-1.1")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>plumb-emulator</RequestId></ErrorResponse>"
    )
    return Response(body, status=status, content_type="text/xml")


class Emulator:
    """WSGI middleware around moto's application."""

    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.faults = Faults()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_plumb/"):
            return self.control(Request(environ))(environ, start_response)

        account = self.account_of(environ)
        if account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
        account = account or DEFAULT_ACCOUNT
        operation, request_kind = self.operation_of(environ)
        self.faults.record(account, operation)

        delay, error = self.faults.decide(account, operation)
        if delay:
            time.sleep(delay)
        if error:
            return error_response(request_kind, *error)(environ, start_response)
        return self.moto_app(environ, start_response)

    @staticmethod
    def account_of(environ):
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return None
        account = ACCESS_KEY_ACCOUNT.search(match.group(1))
        return account.group(1) if account else None

    @staticmethod
    def operation_of(environ):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.split(".")[-1], "json"
        # Query protocol (IAM, STS, CloudWatch): the action is a form field. Read the body and
        # put it back for moto.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        fields = parse_qs(body.decode("utf-8", "replace")) or parse_qs(environ.get("QUERY_STRING", ""))
        return fields.get("Action", ["unknown"])[0], "query"

    def control(self, request):
        path = request.path
        if path == "/_plumb/calls":
            return json_response(self.faults.counts(request.args.get("account", DEFAULT_ACCOUNT)))
        if path == "/_plumb/calls/span":
            # Seconds between the first and the last call of an operation: a write rate.
            key = (request.args.get("account", DEFAULT_ACCOUNT), request.args.get("operation"))
            with self.faults.lock:
                first, last = self.faults.times.get(key, [0.0, 0.0])
            return json_response(last - first)
        if path == "/_plumb/faults" and request.method == "POST":
            self.faults.add(request.get_json(force=True))
            return json_response({"status": "ok"})
        if path == "/_plumb/faults" and request.method == "DELETE":
            self.faults.clear(request.args.get("account", DEFAULT_ACCOUNT))
            return json_response({"status": "ok"})
        if path == "/_plumb/faults/throttled":
            with self.faults.lock:
                rules = self.faults.rules.get(request.args.get("account", DEFAULT_ACCOUNT), [])
                return json_response(sum(r.get("throttled", 0) for r in rules))
        if path == "/_plumb/seed/ssm" and request.method == "POST":
            return json_response({"seeded": seed_ssm(request.get_json(force=True))})
        return Response("unknown control path", status=404)


def json_response(value):
    return Response(json.dumps(value), content_type="application/json")


def seed_ssm(spec):
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[spec.get("account", DEFAULT_ACCOUNT)][spec.get("region", "us-east-1")]
    for p in spec["parameters"]:
        backend.put_parameter(
            p["name"], p.get("description"), p["value"], p.get("type", "String"),
            p.get("allowed_pattern"), p.get("key_id"), True, None, "text", p.get("tier"), None,
        )
    return len(spec["parameters"])


def exit_when_parent_goes():
    """The test harness holds our stdin; when it exits (or dies), stdin closes: stop."""
    sys.stdin.read()
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="keep running when stdin closes (the demo runs us in the background)")
    args = parser.parse_args()

    patch_ssm()
    app = Emulator(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    if not args.no_stdin_watch:
        threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
