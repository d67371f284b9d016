"""plumb's AWS emulator: moto's server, in-process, with the extensions plumb's tests need.

Started by the Rust test harness (tests/support/emulator.rs), the demo and the benchmark:

    python emulator/server.py [--port 0]

prints `PORT <n>` once it listens on 127.0.0.1:<n>, and exits when its standard input closes
(so a test binary that dies never leaves it behind).

Layout: this file is the server (accounts, counts, faults, control API); `faults.py` holds the
fault rules, call counts and AWS-style paging; `patches/<service>.py` (ssm, iam, cloudwatch,
budgets, mirroring src/kinds/) hold the AWS rules moto does not enforce, one `patch()` each.

What it adds to moto, and why (see ../shared/notes/moto-coverage.md for the measurements):

* Accounts from access keys. An access key id ending in 12 digits (`AKIDTEST111122223333`)
  puts the request in that account, as moto's `x-moto-account-id` header would. Every test
  uses its own account, so tests share one server without seeing each other, and plumb runs
  unchanged: only AWS_ACCESS_KEY_ID differs.
* Call counts per account and operation (calls on plumb's apply lock, an SSM parameter under
  `/plumb/lock/`, count as `<Operation>:lock`): `GET /_plumb/calls?account=...`; seconds between
  the first and last call of one operation: `GET /_plumb/calls/span?account=...&operation=...`. The benchmark and
  the efficiency tests read them: AWS calls are the figure that does not depend on the machine.
* Fault injection, per account and operation (moto has none): `POST /_plumb/faults` with
  `{"account", "operation", "kind": "throttle"|"error"|"latency"|"quota", ...}`.
    - throttle: the next `count` calls answer 400 ThrottlingException.
    - error:    the next `count` calls answer `status` (default 500) with `code`; with
                `echo_request` the message quotes the request body, as a careless service
                might (the secret-masking tests need one).
    - latency:  every call sleeps `delay_ms` first.
    - quota:    a token bucket of `rate` calls a second (burst `burst`); calls over it answer
                400 ThrottlingException, as AWS does when a quota is exceeded.
    - ghost:    the next `count` calls are carried out, then answer 500 InternalFailure:
                AWS's "succeeded but answered 500", after which the SDK retries the write.
    - random:   each call fails with probability `throttle` (400 ThrottlingException),
                `error` (503) or, for writes, `ghost` (done, then 500); seeded by `seed`, so
                a run is repeatable. `GET /_plumb/faults/injected?account=` counts them.
    - page_cap: pages of at most `max` items (AWS may return fewer than MaxItems), so that
                paging code is exercised with few objects.
    - hold:     a call waits (at most `timeout_ms`, default 20000) until a call of the
                `until` operation has been answered since the rule was set; the first `skip`
                calls pass, then `count` (default 1) wait. Orders two concurrent reads
                without counting on timing (the race tests).
    - after:    once the next `count` calls are answered, `put_parameter` ({"name", "value",
                "type", "region"}, or {"name", "delete": true}) is written (or deleted) as a
                hand edit would be, between two of plumb's reads (the value cache must not
                pair one read's metadata with another's value).
  `DELETE /_plumb/faults?account=...` removes an account's rules.
* AWS rules moto does not enforce:
    - SSM PutParameter checks the value against AllowedPattern
      (AWS: ParameterPatternMismatchException; moto stores anything).
    - SSM PutParameter refuses a Standard-tier value over 4 KB (AWS: ValidationException;
      moto stores it).
    - SSM PutParameter with Tier=Intelligent-Tiering stores and reports the tier AWS would
      choose (Standard unless the value needs Advanced); moto echoes Intelligent-Tiering.
    - SSM DescribeParameters honours MaxResults (1..50) like AWS; moto pages by 10 whatever
      is asked, which would hide whether plumb reads in pages of 50.
    - SSM GetParametersByPath and DescribeParameters (recursive path) page from a sorted
      index of names; moto scans its whole store for every page, so benchmark times would
      measure moto rather than plumb. Their pages are written directly, not by moto's
      generic serializer (three quarters of a DescribeParameters page's time), with the
      same records (a self-test compares them with moto's GetParameters).
    - SSM DescribeParameters lists each parameter's ARN, as AWS does (plumb's account guard
      reads the account from it); moto leaves it out.
    - CloudWatch PutCompositeAlarm (moto answers 500): the rule's syntax, at most 100 alarms
      named, each of which must exist; DeleteAlarms refuses an alarm a remaining composite
      alarm's rule names.
    - SNS email, email-json, http and https subscriptions stay pending confirmation, as AWS
      leaves them until the recipient confirms: ListSubscriptionsByTopic lists them with the
      SubscriptionArn `PendingConfirmation`, and they cannot be unsubscribed (moto confirms
      every subscription at once).
* `POST /_plumb/seed/ssm` writes parameters straight into moto's store (no HTTP round trip
  per parameter), so the benchmark can seed 10,000 parameters in seconds.

    - IAM DeleteUser answers DeleteConflict while the user has group memberships, access keys,
      a login profile, signing certificates, SSH keys or MFA devices; DeleteGroup while it has
      members, attached or inline policies; DeletePolicy while attached or with non-default
      versions (moto deletes anyway, leaving ghosts). A wrong deletion order fails in tests.
    - IAM GetAccountAuthorizationDetails names each policy (PolicyName), as AWS does.
    - IAM ListEntitiesForPolicy honours PolicyUsageFilter=PermissionsBoundary (roles).
    - IAM ListGroups honours PathPrefix; ListGroups, GetGroup and
      GetAccountAuthorizationDetails honour MaxItems/Marker (moto returns one page).

    - CloudWatch DescribeAlarms honours MaxRecords/NextToken (pages of at most 100) and
      AlarmTypes; moto returns every alarm at once, composite or not.

    - Budgets: DescribeBudget(s) answer limits of 10 million and more in scientific notation
      (`1.53E+7`), as AWS does; moto echoes the request. CreateBudget and UpdateBudget refuse
      an amount in scientific notation (InvalidParameterException), as AWS does.
    - Budgets: UpdateBudget, UpdateNotification, CreateSubscriber, DeleteSubscriber and
      DescribeSubscribersForNotification are served (moto answers 500), with AWS's errors:
      NotFoundException for a missing budget, notification or subscriber (moto: 500 or
      silence), DuplicateRecordException for a duplicate notification or subscriber (moto
      accepts duplicates). Notifications are matched by type, comparison, threshold and
      threshold type, as AWS matches them. Deleting a notification's last subscriber deletes
      the notification, as AWS does.

* Smithy RPC v2 CBOR for CloudWatch (`cbor.py`): aws-sdk-cloudwatch 1.100 and later speak it,
  moto 5.2 serves CloudWatch over the Query protocol only; cbor.py translates both ways.
"""

import argparse
import io
import json
import os
import re
import sys
import threading
import time
from urllib.parse import parse_qs

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

import cbor  # noqa: E402
from faults import DEFAULT_ACCOUNT, ECHO, FAULTS  # noqa: E402
from patches import budgets, cloudwatch, iam, sns, ssm  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)

ACCESS_KEY_ACCOUNT = re.compile(r"(\d{12})$")
CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


def error_response(request_kind, status, code, message):
    if request_kind == "cbor":
        return cbor.error_answer(status, code, message)
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
        self.faults = FAULTS

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_plumb/"):
            return self.control(Request(environ))(environ, start_response)

        account = self.account_of(environ)
        if account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
        account = account or DEFAULT_ACCOUNT
        operation, request_kind = self.operation_of(environ)
        serve = cbor.call if request_kind == "cbor" else (lambda app, env, respond: app(env, respond))
        self.faults.record(account, operation)

        self.faults.hold(account, operation)
        delay, error, after_success = self.faults.decide(account, operation)
        if delay:
            time.sleep(delay)
        if error and after_success:
            # The write happens; the answer is lost (AWS's "succeeded but answered 500").
            body = serve(self.moto_app, environ, lambda *args, **kwargs: None)
            for _ in body:
                pass
            if hasattr(body, "close"):
                body.close()
        if error and error[2] is ECHO:
            # A service that quotes the request in its error (secrets and all).
            error = (error[0], error[1], "invalid request: " + environ.get("plumb.body", b"").decode("utf-8", "replace"))
        if error:
            return error_response(request_kind, *error)(environ, start_response)
        writes = self.faults.after(account, operation)
        body = serve(self.moto_app, environ, start_response)
        chunks = list(body)
        if hasattr(body, "close"):
            body.close()
        for write in writes:
            put_ssm(account, write)
        self.faults.answered(account, operation)
        return chunks

    @staticmethod
    def account_of(environ):
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return None
        account = ACCESS_KEY_ACCOUNT.search(match.group(1))
        return account.group(1) if account else None

    @staticmethod
    def operation_of(environ):
        if cbor.is_cbor_request(environ):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["plumb.body"] = environ["wsgi.input"].read(length) if length else b""
            return cbor.operation_name(environ), "cbor"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            operation = target.split(".")[-1]
            # plumb's apply lock is an SSM parameter under /plumb/lock/: its calls are counted
            # (and faulted) as `<Operation>:lock`, so that tests counting an environment's
            # writes (and faults aimed at them) are about the environment's own parameters.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["plumb.body"] = body
            if b'"Name":"/plumb/lock/' in body.replace(b" ", b""):
                operation += ":lock"
            return operation, "json"
        # Query protocol (IAM, STS, CloudWatch): the action is a form field. Read the body and
        # put it back for moto.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["plumb.body"] = body
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
        if path == "/_plumb/faults/injected":
            with self.faults.lock:
                rules = self.faults.rules.get(request.args.get("account", DEFAULT_ACCOUNT), [])
                return json_response(sum(r.get("injected", 0) for r in rules))
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


def put_ssm(account, p):
    """A hand edit of one parameter (a new version, its type and value as given), or its
    deletion with `"delete": true`."""
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[account][p.get("region", "us-east-1")]
    if p.get("delete"):
        backend.delete_parameter(p["name"])
        return
    backend.put_parameter(
        p["name"], None, p["value"], p.get("type", "String"), None, None, True, None, "text", None, None,
    )


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

    for service in (ssm, iam, cloudwatch, budgets, sns):
        service.patch()
    app = Emulator(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    if not args.no_stdin_watch:
        threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
