"""Fault rules, call counts and AWS-style paging, shared by the server and the patches."""

import random
import threading
import time
from collections import defaultdict

DEFAULT_ACCOUNT = "123456789012"

# An error rule with `echo_request` answers with the request's body in its message.
ECHO = object()


def page(items, marker, max_items, cap=None, default=100):
    """AWS-style paging over a list: (page, next marker or None). Markers are offsets. AWS may
    return fewer items than MaxItems; a `page_cap` fault rule makes the emulator do so."""
    start = int(marker or 0)
    size = min(int(max_items or default), cap or 10**9)
    chunk = list(items)[start : start + size]
    more = start + size < len(items)
    return chunk, (str(start + size) if more else None)


class Faults:
    """Fault rules and call counts, per account. Guarded by one lock: moto serves threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = defaultdict(list)  # account -> [rule]
        self.calls = defaultdict(lambda: defaultdict(int))  # account -> operation -> n
        self.times = {}  # (account, operation) -> [first, last] monotonic seconds
        self.answers = defaultdict(lambda: defaultdict(int))  # account -> operation -> answered
        self.answered_one = threading.Condition(self.lock)

    def add(self, rule):
        rule = dict(rule)
        rule.setdefault("operation", "*")
        if rule["kind"] == "quota":
            rule["tokens"] = float(rule.get("burst", rule["rate"]))
            rule["stamp"] = time.monotonic()
        with self.lock:
            if rule["kind"] == "hold":
                rule["baseline"] = self.answers[rule["account"]][rule["until"]]
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

    def after(self, account, operation):
        """The SSM writes an `after` rule makes once this call is answered (a hand edit racing
        plumb's reads), counted down like throttles."""
        writes = []
        with self.lock:
            for rule in self.rules.get(account, []):
                if rule["kind"] == "after" and rule["operation"] in ("*", operation) and rule.get("count", 1) > 0:
                    rule["count"] = rule.get("count", 1) - 1
                    writes.append(rule["put_parameter"])
        return writes

    def answered(self, account, operation):
        """Notes a call answered (its `after` writes done): `hold` rules wait for these."""
        with self.answered_one:
            self.answers[account][operation] += 1
            self.answered_one.notify_all()

    def hold(self, account, operation):
        """Waits, for a `hold` rule, until a call of its `until` operation has been answered
        since the rule was set (at most `timeout_ms`): one read made to come after another,
        without counting on timing. The rule's first `skip` calls pass; then `count` (1) wait."""
        with self.answered_one:
            for rule in self.rules.get(account, []):
                if rule["kind"] != "hold" or rule["operation"] not in ("*", operation):
                    continue
                if rule.get("skip", 0) > 0:
                    rule["skip"] -= 1
                    continue
                if rule.get("count", 1) <= 0:
                    continue
                rule["count"] = rule.get("count", 1) - 1
                until, baseline = rule["until"], rule["baseline"]
                self.answered_one.wait_for(
                    lambda: self.answers[account][until] > baseline, rule.get("timeout_ms", 20000) / 1000.0
                )
                return

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


FAULTS = Faults()
