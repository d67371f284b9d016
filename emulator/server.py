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
  `DELETE /_plumb/faults?account=...` removes an account's rules.
* AWS rules moto does not enforce:
    - SSM PutParameter checks the value against AllowedPattern
      (AWS: ParameterPatternMismatchException; moto stores anything).
    - SSM PutParameter with Tier=Intelligent-Tiering stores and reports the tier AWS would
      choose (Standard unless the value needs Advanced); moto echoes Intelligent-Tiering.
    - SSM DescribeParameters honours MaxResults (1..50) like AWS; moto pages by 10 whatever
      is asked, which would hide whether plumb reads in pages of 50.
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
      threshold type, as AWS matches them.

aws-sdk-cloudwatch is pinned to 1.99.0 (Cargo.toml): later releases speak Smithy RPC v2 CBOR,
which moto 5.2 does not serve.
"""

import argparse
import io
import json
import os
import random
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


def page(items, marker, max_items, cap=None, default=100):
    """AWS-style paging over a list: (page, next marker or None). Markers are offsets. AWS may
    return fewer items than MaxItems; a `page_cap` fault rule makes the emulator do so."""
    start = int(marker or 0)
    size = min(int(max_items or default), cap or 10**9)
    chunk = list(items)[start : start + size]
    more = start + size < len(items)
    return chunk, (str(start + size) if more else None)


def patch_iam():
    from moto.iam import responses as iam_responses
    from moto.iam.exceptions import DeleteConflictException
    from moto.iam.models import IAMBackend
    from moto.core.responses import ActionResult

    Response = iam_responses.IamResponse

    # GetAccountAuthorizationDetails leaves PolicyName (and PolicyId) out of each policy: moto's
    # serialiser looks for attributes of those names, and ManagedPolicy calls them name and id.
    from moto.iam.models import ManagedPolicy

    ManagedPolicy.policy_name = property(lambda self: self.name)
    ManagedPolicy.policy_id = property(lambda self: self.id)

    # AWS answers DeleteConflict while a user still has memberships or credentials; moto deletes
    # the user and leaves a ghost member in the group. A wrong deletion order must fail here.
    original_delete_user = IAMBackend.delete_user

    def delete_user(self, user_name):
        user = self.get_user(user_name)
        blockers = []
        if any(user in g.users for g in self.groups.values()):
            blockers.append("group memberships")
        if user.access_keys:
            blockers.append("access keys")
        if user.password is not None:
            blockers.append("a login profile")
        if user.signing_certificates:
            blockers.append("signing certificates")
        if user.ssh_public_keys:
            blockers.append("SSH public keys")
        if user.mfa_devices:
            blockers.append("MFA devices")
        if blockers:
            raise DeleteConflictException(
                f"Cannot delete entity, must remove {', '.join(blockers)} first."
            )
        return original_delete_user(self, user_name)

    IAMBackend.delete_user = delete_user

    original_delete_group = IAMBackend.delete_group

    def delete_group(self, group_name):
        group = self.get_group(group_name)
        if group.users:
            raise DeleteConflictException("Cannot delete entity, must remove users from group first.")
        if group.managed_policies:
            raise DeleteConflictException("Cannot delete entity, must detach all policies first.")
        if group.policies:
            raise DeleteConflictException("Cannot delete entity, must delete policies first.")
        return original_delete_group(self, group_name)

    IAMBackend.delete_group = delete_group

    original_delete_policy = IAMBackend.delete_policy

    def delete_policy(self, policy_arn):
        policy = self.get_policy(policy_arn)
        if policy.attachment_count > 0:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        if len(policy.versions) > 1:
            raise DeleteConflictException("Cannot delete a policy with non-default versions.")
        return original_delete_policy(self, policy_arn)

    IAMBackend.delete_policy = delete_policy

    # ListGroups: moto ignores PathPrefix and paging; AWS honours both.
    def list_groups(self):
        prefix = self._get_param("PathPrefix") or "/"
        groups = [g for g in self.backend.list_groups() if g.path.startswith(prefix)]
        cap = FAULTS.page_cap(self.current_account, "ListGroups")
        chunk, marker = page(groups, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {"Groups": chunk, "IsTruncated": marker is not None}
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.list_groups = list_groups

    # GetGroup pages its members on AWS.
    def get_group(self):
        group = self.backend.get_group(self._get_param("GroupName"))
        cap = FAULTS.page_cap(self.current_account, "GetGroup")
        chunk, marker = page(group.users, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {"Group": group, "Users": chunk, "IsTruncated": marker is not None}
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.get_group = get_group

    # GetAccountAuthorizationDetails pages on AWS (plumb reads IAM through it); moto returns
    # everything at once. Pages run over users, then groups, then policies.
    def get_account_authorization_details(self):
        details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
        items = (
            [("UserDetailList", u) for u in details["users"]]
            + [("GroupDetailList", g) for g in details["groups"]]
            + [("RoleDetailList", r) for r in details["roles"]]
            + [("Policies", p) for p in details["managed_policies"]]
        )
        cap = FAULTS.page_cap(self.current_account, "GetAccountAuthorizationDetails")
        chunk, marker = page(items, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {key: [item for k, item in chunk if k == key]
                  for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")}
        result["IsTruncated"] = marker is not None
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.get_account_authorization_details = get_account_authorization_details

    # ListEntitiesForPolicy: moto ignores PolicyUsageFilter and lists attachments only. AWS
    # lists permissions-boundary uses under PermissionsBoundary. (moto keeps boundaries for
    # roles only, so only roles are found.)
    original_list_entities = Response.list_entities_for_policy

    def list_entities_for_policy(self):
        if self._get_param("PolicyUsageFilter") != "PermissionsBoundary":
            return original_list_entities(self)
        arn = self._get_param("PolicyArn")
        roles, _ = self.backend.list_roles(None, None, None)
        bounded = [r for r in roles if getattr(r, "permissions_boundary_arn", None) == arn]
        return ActionResult({
            "PolicyRoles": [{"RoleName": r.name, "RoleId": r.id} for r in bounded],
            "PolicyUsers": [], "PolicyGroups": [], "IsTruncated": False,
        })

    Response.list_entities_for_policy = list_entities_for_policy


def patch_cloudwatch():
    from moto.cloudwatch import responses as cw_responses
    from moto.core.responses import ActionResult

    # DescribeAlarms: moto returns every alarm in one page and ignores AlarmTypes; AWS pages
    # by MaxRecords (at most 100) and honours AlarmTypes. plumb asks for metric alarms only.
    original = cw_responses.CloudWatchResponse.describe_alarms

    def describe_alarms(self):
        result = original(self).result
        types = self._get_param("AlarmTypes", [])
        alarms = []
        if not types or "MetricAlarm" in types:
            alarms += [("MetricAlarms", a) for a in result["MetricAlarms"]]
        if not types or "CompositeAlarm" in types:
            alarms += [("CompositeAlarms", a) for a in result["CompositeAlarms"]]
        alarms.sort(key=lambda item: item[1].name)
        cap = FAULTS.page_cap(self.current_account, "DescribeAlarms")
        chunk, token = page(alarms, self._get_param("NextToken"), self._get_param("MaxRecords"), cap, default=50)
        response = {key: [a for k, a in chunk if k == key] for key in ("MetricAlarms", "CompositeAlarms")}
        if token:
            response["NextToken"] = token
        return ActionResult(response)

    cw_responses.CloudWatchResponse.describe_alarms = describe_alarms


def patch_budgets():
    """moto serves create/describe/delete of budgets and notifications only (UpdateBudget,
    UpdateNotification and every subscriber call answer HTTP 500) and is lax where AWS is not.
    These fill the gaps over moto's own store, with AWS's errors."""
    from moto.budgets import responses as budgets_responses
    from moto.budgets.exceptions import DuplicateRecordException, NotFoundException
    from moto.budgets.models import Notification

    Response = budgets_responses.BudgetsResponse

    def key(details):
        return (details.get("NotificationType"), details.get("ComparisonOperator"),
                float(details.get("Threshold", 0)), details.get("ThresholdType", "PERCENTAGE"))

    def budget_of(self, verb):
        account, name = self._get_param("AccountId"), self._get_param("BudgetName")
        budget = self.backend.budgets[account].get(name)
        if budget is None:
            raise NotFoundException(f"Unable to {verb} - the budget {name} doesn't exist.")
        return budget

    def notification_of(budget, details, verb):
        for notification in budget.notifications:
            if key(notification.details) == key(details):
                return notification
        raise NotFoundException(f"Unable to {verb} - the notification doesn't exist.")

    def refuse_scientific(budget):
        amount = str((budget.get("BudgetLimit") or {}).get("Amount", ""))
        if "e" in amount.lower():
            from moto.core.exceptions import JsonRESTError
            raise JsonRESTError("InvalidParameterException", f"Invalid amount: {amount}")

    def update_budget(self):
        new = self._get_param("NewBudget")
        refuse_scientific(new)
        account = self._get_param("AccountId")
        budget = self.backend.budgets[account].get(new["BudgetName"])
        if budget is None:
            raise NotFoundException(f"Unable to update budget - the budget {new['BudgetName']} doesn't exist.")
        time_period = new.get("TimePeriod") or budget.budget.get("TimePeriod")
        budget.budget = dict(new)
        budget.budget["TimePeriod"] = time_period
        return json.dumps({})

    def describe_notifications_for_budget(self):
        budget = budget_of(self, "describe notifications")
        return json.dumps({"Notifications": [n.details for n in budget.notifications]})

    def create_notification(self):
        budget = budget_of(self, "create notification")
        details = self._get_param("Notification")
        if any(key(n.details) == key(details) for n in budget.notifications):
            raise DuplicateRecordException(record_type="notification", record_name=str(key(details)))
        budget.notifications.append(Notification(details, list(self._get_param("Subscribers", []))))
        return json.dumps({})

    def delete_notification(self):
        budget = budget_of(self, "delete notification")
        notification = notification_of(budget, self._get_param("Notification"), "delete notification")
        budget.notifications.remove(notification)
        return json.dumps({})

    def update_notification(self):
        budget = budget_of(self, "update notification")
        notification = notification_of(budget, self._get_param("OldNotification"), "update notification")
        new = self._get_param("NewNotification")
        if key(new) != key(notification.details) and any(key(n.details) == key(new) for n in budget.notifications):
            raise DuplicateRecordException(record_type="notification", record_name=str(key(new)))
        notification.details = new
        return json.dumps({})

    def describe_subscribers_for_notification(self):
        budget = budget_of(self, "describe subscribers")
        notification = notification_of(budget, self._get_param("Notification"), "describe subscribers")
        return json.dumps({"Subscribers": list(notification.subscribers or [])})

    def create_subscriber(self):
        budget = budget_of(self, "create subscriber")
        notification = notification_of(budget, self._get_param("Notification"), "create subscriber")
        subscriber = self._get_param("Subscriber")
        notification.subscribers = list(notification.subscribers or [])
        if subscriber in notification.subscribers:
            raise DuplicateRecordException(record_type="subscriber", record_name=subscriber.get("Address", ""))
        notification.subscribers.append(subscriber)
        return json.dumps({})

    def delete_subscriber(self):
        budget = budget_of(self, "delete subscriber")
        notification = notification_of(budget, self._get_param("Notification"), "delete subscriber")
        subscriber = self._get_param("Subscriber")
        if subscriber not in (notification.subscribers or []):
            raise NotFoundException("Unable to delete subscriber - the subscriber doesn't exist.")
        notification.subscribers.remove(subscriber)
        return json.dumps({})

    # AWS answers large limits in scientific notation (Java's BigDecimal form: `1.53E+7`);
    # moto echoes what was sent.
    from decimal import Decimal, InvalidOperation

    def as_aws_amount(budget):
        limit = budget.get("BudgetLimit") or {}
        try:
            amount = Decimal(str(limit.get("Amount")))
        except (InvalidOperation, TypeError):
            return budget
        if amount >= Decimal(10_000_000):
            limit["Amount"] = str(amount.normalize())
        return budget

    original_create_budget = Response.create_budget

    def create_budget(self):
        refuse_scientific(self._get_param("Budget"))
        return original_create_budget(self)

    original_describe_budget = Response.describe_budget
    original_describe_budgets = Response.describe_budgets

    def describe_budget(self):
        answer = json.loads(original_describe_budget(self))
        answer["Budget"] = as_aws_amount(answer["Budget"])
        return json.dumps(answer)

    def describe_budgets(self):
        answer = json.loads(original_describe_budgets(self))
        answer["Budgets"] = [as_aws_amount(b) for b in answer.get("Budgets") or []]
        return json.dumps(answer)

    for handler in (create_budget, describe_budget, describe_budgets, update_budget, describe_notifications_for_budget, create_notification,
                    delete_notification, update_notification, describe_subscribers_for_notification,
                    create_subscriber, delete_subscriber):
        setattr(Response, handler.__name__, handler)


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

    def page_cap(self, account, operation):
        """The smallest page size a `page_cap` rule sets for this call, if any."""
        with self.lock:
            caps = [r["max"] for r in self.rules.get(account, [])
                    if r["kind"] == "page_cap" and r["operation"] in ("*", operation)]
        return min(caps) if caps else None

    def decide(self, account, operation):
        """Returns (delay_seconds, error_response or None, after_success) for this call; with
        after_success the call is served by moto first and the error answered after it."""
        delay, error, after = 0.0, None, False
        with self.lock:
            for rule in self.rules.get(account, []):
                if rule["operation"] not in ("*", operation):
                    continue
                kind = rule["kind"]
                if kind == "latency":
                    delay += rule.get("delay_ms", 0) / 1000.0
                elif error is None and kind == "ghost" and rule.get("count", 1) > 0:
                    rule["count"] = rule.get("count", 1) - 1
                    error, after = (500, "InternalFailure", "injected fault after the write"), True
                elif error is None and kind == "random":
                    rng = rule.setdefault("rng", random.Random(rule.get("seed", 0)))
                    roll = rng.random()
                    throttle, fail, ghost = (rule.get(k, 0.0) for k in ("throttle", "error", "ghost"))
                    if roll < throttle:
                        error = (400, "ThrottlingException", "Rate exceeded")
                    elif roll < throttle + fail:
                        error = (503, "ServiceUnavailable", "injected fault")
                    elif roll < throttle + fail + ghost and not operation.startswith(("Get", "List", "Describe")):
                        error, after = (500, "InternalFailure", "injected fault after the write"), True
                    if error:
                        rule["injected"] = rule.get("injected", 0) + 1
                elif error is None and kind in ("throttle", "error") and rule.get("count", 1) > 0:
                    rule["count"] = rule.get("count", 1) - 1
                    if kind == "throttle":
                        error = (400, "ThrottlingException", "Rate exceeded")
                    else:
                        message = ECHO if rule.get("echo_request") else "injected fault"
                        error = (rule.get("status", 500), rule.get("code", "InternalFailure"), message)
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
        return delay, error, after


def error_response(request_kind, status, code, message):
    if request_kind == "json":
        body = json.dumps({"__type": code, "message": message})
        return Response(body, status=status, content_type="application/x-amz-json-1.1")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>plumb-emulator</RequestId></ErrorResponse>"
    )
    return Response(body, status=status, content_type="text/xml")


FAULTS = Faults()
# An error rule with `echo_request` answers with the request's body in its message.
ECHO = object()


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
        self.faults.record(account, operation)

        delay, error, after_success = self.faults.decide(account, operation)
        if delay:
            time.sleep(delay)
        if error and after_success:
            # The write happens; the answer is lost (AWS's "succeeded but answered 500").
            body = self.moto_app(environ, lambda *args, **kwargs: None)
            for _ in body:
                pass
            if hasattr(body, "close"):
                body.close()
        if error and error[2] is ECHO:
            # A service that quotes the request in its error (secrets and all).
            error = (error[0], error[1], "invalid request: " + environ.get("plumb.body", b"").decode("utf-8", "replace"))
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
    patch_iam()
    patch_cloudwatch()
    patch_budgets()
    app = Emulator(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    if not args.no_stdin_watch:
        threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
