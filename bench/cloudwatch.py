"""Benchmark: plumb on A alarms and D dashboards against the emulator.

    bench/run cloudwatch [--alarms 1000] [--dashboards 50]

Creates the alarms and dashboards through the CloudWatch API, declares the same in a
temporary desired/, and reports for `plumb plan` (no changes): wall time, peak memory and AWS
calls by operation.
"""

import argparse
import json
import os
import sys
import tempfile

import boto3

from harness import RELEASE_BINARY, measured_plan, print_plan_report, start_emulator

ACCOUNT = "300000000003"


def body(d):
    widgets = [{"type": "metric", "x": 0, "y": 6 * i, "width": 12, "height": 6,
                "properties": {"title": f"Widget {i}", "region": "us-east-1", "stat": "Average", "period": 300,
                               "metrics": [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", f"db-{d}-{i}"]]}}
               for i in range(6)]
    return {"widgets": widgets}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alarms", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--binary", default=RELEASE_BINARY)
    args = parser.parse_args()

    server, endpoint = start_emulator()
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=f"AKIDTEST{ACCOUNT}", aws_secret_access_key="emulator")

    work = tempfile.mkdtemp(prefix="plumb-bench-cw-")
    os.makedirs(os.path.join(work, "desired", "bench", "dashboards"))
    with open(os.path.join(work, "desired", "plumb.toml"), "w") as f:
        f.write(f'[environments.bench]\naccount_id = "{ACCOUNT}"\nregion = "us-east-1"\n'
                f'[environments.bench.scope]\nalarm_prefixes = ["bench-"]\ndashboard_prefixes = ["bench-"]\n')
    toml = []
    for a in range(args.alarms):
        name = f"bench-alarm-{a:04}"
        cw.put_metric_alarm(AlarmName=name, Namespace="AWS/RDS", MetricName="CPUUtilization",
                            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": f"db-{a}"}], Statistic="Average",
                            Period=300, EvaluationPeriods=2, Threshold=80.0, ComparisonOperator="GreaterThanThreshold",
                            AlarmActions=["arn:aws:sns:us-east-1:123456789012:alerts"])
        toml.append(f'[alarms."{name}"]\nnamespace = "AWS/RDS"\nmetric = "CPUUtilization"\n'
                    f'dimensions = {{ DBInstanceIdentifier = "db-{a}" }}\nstatistic = "Average"\nperiod = 300\n'
                    f'evaluation_periods = 2\nthreshold = 80.0\ncomparison = "GreaterThanThreshold"\n'
                    f'alarm_actions = ["arn:aws:sns:us-east-1:123456789012:alerts"]\n')
    for d in range(args.dashboards):
        name = f"bench-dashboard-{d:03}"
        cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body(d)))
        with open(os.path.join(work, "desired", "bench", "dashboards", f"{name}.json"), "w") as f:
            json.dump(body(d), f, indent=2)
        toml.append(f'[dashboards."{name}"]\nfile = "dashboards/{name}.json"\n')
    with open(os.path.join(work, "desired", "bench", "monitoring.toml"), "w") as f:
        f.write("\n".join(toml))

    wall, rss, made = measured_plan(args.binary, work, endpoint, ACCOUNT)
    server.stdin.close()
    print_plan_report(f"CloudWatch: {args.alarms} alarms, {args.dashboards} dashboards", wall, rss, made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
