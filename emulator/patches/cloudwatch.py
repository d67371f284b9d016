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
