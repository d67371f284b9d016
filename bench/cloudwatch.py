"""Benchmark: plumb on A alarms and D dashboards against the emulator.

    bench/run cloudwatch [--alarms 1000] [--dashboards 50]

Creates the alarms and dashboards through the CloudWatch API, declares the same in a
temporary desired/, and reports for `plumb plan` (no changes): wall time, peak memory and AWS
calls by operation.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/plumb"))
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "emulator/server.py"), "--port", "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = f"http://127.0.0.1:{server.stdout.readline().split()[1]}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=f"AKIDTEST{ACCOUNT}",
               AWS_SECRET_ACCESS_KEY="emulator", AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
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

    before = json.loads(urllib.request.urlopen(f"{endpoint}/_plumb/calls?account={ACCOUNT}").read())
    start = time.monotonic()
    process = subprocess.Popen([args.binary, "plan", "--detailed-exitcode"], cwd=work, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, f"plan should show no changes (exit {code}): {process.stderr.read().decode()}"
    after = json.loads(urllib.request.urlopen(f"{endpoint}/_plumb/calls?account={ACCOUNT}").read())
    calls = {op: after[op] - before.get(op, 0) for op in sorted(after) if after[op] - before.get(op, 0)}
    server.stdin.close()

    print(f"## CloudWatch: {args.alarms} alarms, {args.dashboards} dashboards\n")
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, release build, moto 5.2.1 on loopback.\n")
    print("| figure | result |")
    print("|---|---|")
    print(f"| `plumb plan` wall time (no changes) | {wall:.2f} s |")
    print(f"| `plumb plan` peak memory (max RSS) | {usage.ru_maxrss / 1024.0:.1f} MB |")
    print(f"| `plumb plan` AWS calls | {sum(calls.values())} |")
    for op, count in calls.items():
        print(f"| &nbsp;&nbsp;{op} | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
