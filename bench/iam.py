"""Benchmark: plumb on an IAM path of U users and G groups against the emulator.

    bench/run iam [--users 500] [--groups 50]

Creates G groups (each with one AWS-managed policy attached) and U users (each in two groups,
with two tags) through the IAM API, declares the same in a temporary desired/, and reports for
`plumb plan` (no changes): wall time, peak memory and AWS calls by operation.
"""

import argparse
import json
import os
import sys
import tempfile

import boto3

from harness import RELEASE_BINARY, measured_plan, print_plan_report, start_emulator

ACCOUNT = "300000000002"
PATH = "/bench/"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--binary", default=RELEASE_BINARY)
    args = parser.parse_args()

    server, endpoint = start_emulator()
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

    wall, rss, made = measured_plan(args.binary, work, endpoint, ACCOUNT)
    server.stdin.close()
    print_plan_report(f"IAM: {args.users} users, {args.groups} groups", wall, rss, made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
