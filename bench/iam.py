"""Benchmark: plumb on an IAM path of U users and G groups against the emulator.

    bench/run iam [--users 500] [--groups 50]

Creates G groups (each with one AWS-managed policy attached) and U users (each in two groups,
with two tags) through the IAM API, declares the same in a temporary desired/, and reports for
`plumb plan` (no changes): wall time, peak memory and AWS calls by operation.
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
ACCOUNT = "300000000002"
PATH = "/bench/"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/plumb"))
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "emulator/server.py"), "--port", "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = f"http://127.0.0.1:{server.stdout.readline().split()[1]}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=f"AKIDTEST{ACCOUNT}",
               AWS_SECRET_ACCESS_KEY="emulator", AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id=f"AKIDTEST{ACCOUNT}", aws_secret_access_key="emulator")

    work = tempfile.mkdtemp(prefix="plumb-bench-iam-")
    os.makedirs(os.path.join(work, "desired", "bench"))
    with open(os.path.join(work, "desired", "plumb.toml"), "w") as f:
        f.write(f'[environments.bench]\naccount_id = "{ACCOUNT}"\nregion = "us-east-1"\n'
                f'[environments.bench.scope]\niam_path = "{PATH}"\n')
    toml = []
    for g in range(args.groups):
        iam.create_group(GroupName=f"group-{g}", Path=PATH)
        iam.attach_group_policy(GroupName=f"group-{g}", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        toml.append(f'[groups.group-{g}]\nmanaged_policies = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n')
    for u in range(args.users):
        groups = sorted({f"group-{u % args.groups}", f"group-{(u * 7 + 1) % args.groups}"})
        iam.create_user(UserName=f"user-{u}", Path=PATH,
                        Tags=[{"Key": "team", "Value": f"team-{u % 10}"}, {"Key": "email", "Value": f"user-{u}@example.com"}])
        for group in groups:
            iam.add_user_to_group(GroupName=group, UserName=f"user-{u}")
        toml.append(f'[users.user-{u}]\ngroups = {json.dumps(groups)}\n'
                    f'tags = {{ team = "team-{u % 10}", email = "user-{u}@example.com" }}\n')
    with open(os.path.join(work, "desired", "bench", "iam.toml"), "w") as f:
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

    print(f"## IAM: {args.users} users, {args.groups} groups\n")
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
