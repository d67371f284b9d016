"""Benchmark: how fast `plumb apply` writes under AWS's PutParameter quota.

    bench/run pacing [--seconds 20]

For each quota (3 and 20 calls a second, as a token bucket in the emulator, AWS's
ThrottlingException beyond it) and each setting (no `ssm_put_rate`, so plumb finds the quota by
itself; `ssm_put_rate` set to the quota), seeds enough parameters for about `--seconds` of
writes, changes them all, and applies. Reports the rate kept (changes over the seconds between
the first and the last PutParameter call) as a share of the quota, the calls the quota
throttled, and the failed changes.
"""

import argparse
import os
import sys
import tempfile
import time

from harness import RELEASE_BINARY, control, plumb_env, run_measured, start_emulator

PATH = "/bench/app/"


def write_desired(folder, account, count, put_rate, changed):
    os.makedirs(os.path.join(folder, "bench"), exist_ok=True)
    rate = f"ssm_put_rate = {put_rate:g}\n" if put_rate else ""
    with open(os.path.join(folder, "plumb.toml"), "w") as f:
        f.write(f'[environments.bench]\naccount_id = "{account}"\nregion = "us-east-1"\n{rate}'
                f'[environments.bench.scope]\nparameter_paths = ["{PATH}"]\n')
    with open(os.path.join(folder, "bench", "parameters.toml"), "w") as f:
        for i in range(count):
            value = f"value-{i}-changed" if changed else f"value-{i}"
            f.write(f'[parameters."{PATH}p{i}"]\nvalue = "{value}"\n')


def scenario(endpoint, binary, account, quota, put_rate, count):
    work = tempfile.mkdtemp(prefix="plumb-pacing-")
    env = plumb_env(endpoint, account)
    desired = os.path.join(work, "desired")
    batch = [{"name": f"{PATH}p{i}", "value": f"value-{i}"} for i in range(count)]
    control(endpoint, "POST", "/_plumb/seed/ssm", {"account": account, "parameters": batch})
    write_desired(desired, account, count, put_rate, changed=True)
    control(endpoint, "POST", "/_plumb/faults", {"account": account, "operation": "PutParameter",
                                                 "kind": "quota", "rate": quota, "burst": quota})
    code, wall, _, err = run_measured(binary, ["apply", "--auto-approve"], work, env)
    calls = control(endpoint, "GET", f"/_plumb/calls?account={account}")
    throttled = control(endpoint, "GET", f"/_plumb/faults/throttled?account={account}")
    span = control(endpoint, "GET", f"/_plumb/calls/span?account={account}&operation=PutParameter")
    control(endpoint, "DELETE", f"/_plumb/faults?account={account}")
    write_desired(desired, account, count, put_rate, changed=True)
    check, _, _, _ = run_measured(binary, ["plan", "--detailed-exitcode", "--no-cache"], work, env)
    failed = err.count("\n  bench:") if code != 0 else 0
    kept = (count - 1) / span if span > 0 else float("nan")
    return {"wall": wall, "code": code, "puts": calls.get("PutParameter", 0), "throttled": throttled,
            "kept": kept, "failed": failed, "converged": check == 0, "stderr": err}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="writes per scenario, in seconds of quota")
    parser.add_argument("--binary", default=RELEASE_BINARY)
    args = parser.parse_args()
    server, endpoint = start_emulator()
    rows = []
    for n, (quota, put_rate) in enumerate([(3, None), (3, 3), (20, None), (20, 20)]):
        account = f"30000000010{n}"
        count = int(quota * args.seconds)
        result = scenario(endpoint, args.binary, account, quota, put_rate, count)
        if result["code"] != 0:
            print(result["stderr"], file=sys.stderr)
        rows.append((quota, put_rate, count, result))
    server.stdin.close()

    print("## Apply under PutParameter quotas\n")
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, release build, moto 5.2.1 on loopback.\n")
    print("| quota | `ssm_put_rate` | changes | apply wall time | rate kept (share of quota) | "
          "PutParameter calls | throttled | failed changes | plan after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for quota, put_rate, count, r in rows:
        setting = f"{put_rate:g}" if put_rate else "not set"
        print(f"| {quota}/s | {setting} | {count} | {r['wall']:.1f} s | {r['kept']:.2f}/s ({r['kept'] / quota:.0%}) | "
              f"{r['puts']} | {r['throttled']} | {r['failed']} | {'empty' if r['converged'] else 'NOT EMPTY'} |")
    return 0 if all(r["code"] == 0 and r["converged"] for *_, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
