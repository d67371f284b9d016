"""CloudWatch: DescribeAlarms paging and alarm types (see the server's docstring)."""

from faults import FAULTS, page


def patch():
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

    # PutCompositeAlarm: moto does not serve it (HTTP 500). AWS checks the rule (states of
    # quoted alarm names, TRUE/FALSE, AND/OR/NOT, parentheses), that it names at most 100
    # alarms, and that each alarm it names exists; it stores the actions suppressor.
    import re

    from moto.cloudwatch.exceptions import ValidationError

    # An alarm name with or without double quotes, as AWS's docs allow.
    named = re.compile(r'(?:ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*"?([^")]+?)"?\s*\)')
    word = re.compile(r"\s*(?:AND|OR|NOT|TRUE|FALSE|\(|\))\s*")

    def check_rule(rule, backend):
        names = named.findall(rule or "")
        rest = word.sub("", named.sub("", rule or ""))
        if not rule or rest.strip() or rule.count("(") != rule.count(")"):
            raise ValidationError(f"Invalid AlarmRule: {rule}")
        if len(names) > 100:
            raise ValidationError("An alarm rule can reference at most 100 alarms")
        missing = [n for n in names if n not in backend.alarms]
        if missing:
            raise ValidationError(
                f"Could not save the composite alarm as alarms [{', '.join(missing)}] in the alarm rule do not exist"
            )

    def put_composite_alarm(self):
        check_rule(self._get_param("AlarmRule"), self.cloudwatch_backend)
        result = self.put_metric_alarm()
        alarm = self.cloudwatch_backend.alarms[self._get_param("AlarmName")]
        alarm.actions_suppressor = self._get_param("ActionsSuppressor")
        alarm.actions_suppressor_wait_period = self._get_param("ActionsSuppressorWaitPeriod")
        alarm.actions_suppressor_extension_period = self._get_param("ActionsSuppressorExtensionPeriod")
        return result

    cw_responses.CloudWatchResponse.put_composite_alarm = put_composite_alarm

    # DeleteAlarms: AWS refuses to delete an alarm that a remaining composite alarm's rule
    # names (its docs: an alarm some composite depends on cannot be deleted); moto deletes it.
    from moto.cloudwatch.models import CloudWatchBackend

    original_delete_alarms = CloudWatchBackend.delete_alarms

    def delete_alarms(self, alarm_names):
        going = set(alarm_names)
        for other in self.alarms.values():
            if other.name in going or not getattr(other, "rule", None):
                continue
            needed = going.intersection(named.findall(other.rule))
            if needed:
                raise ValidationError(
                    f"Could not delete the alarms [{', '.join(sorted(needed))}]: the composite alarm "
                    f"{other.name} depends on them"
                )
        return original_delete_alarms(self, alarm_names)

    CloudWatchBackend.delete_alarms = delete_alarms
