"""Benchmark: plumb on N SSM parameters against the emulator.

    bench/run [--count 10000] [--apply-count 300] [--rate 3] [--put-rate 3]

Seeds N parameters straight into the emulator's store, declares the same N in a temporary
desired/, and measures with the release binary:
  * `plumb validate` wall time (best of 3);
  * `plumb plan` (no changes) wall time, peak memory (max RSS, from wait4) and AWS calls by
    operation: with a cold value cache, a warm one, and `--no-cache` (next to the by-path
    floor ⌈N/10⌉ + ⌈N/50⌉ + a handful); `--latency MS` adds that much to every call, as a
    distant AWS endpoint would;
  * `plumb apply` of M changed values with AWS's PutParameter quota (`--rate` a second, as a
    token bucket in the emulator): wall time, the PutParameter rate plumb kept, throttled calls
    and failed changes. `ssm_put_rate` is set to `--put-rate` (default: the quota; 0 leaves it
    unset, so plumb finds the quota by itself: `bench/run pacing` compares both).
Wall times depend on the machine and mostly measure moto (which rescans its store on every
page); call counts do not.
"""

import argparse
import math
import os
import sys
import tempfile
import time

from harness import RELEASE_BINARY, control, plumb_env, run_measured, run_measured_cpu, start_emulator

ACCOUNT = "300000000001"
PATH = "/bench/app/"


def write_desired(folder, count, changed=0, put_rate=None):
    os.makedirs(os.path.join(folder, "bench"), exist_ok=True)
    pacing = f"ssm_put_rate = {put_rate:g}\n" if put_rate else ""
    with open(os.path.join(folder, "plumb.toml"), "w") as f:
        f.write(f'[environments.bench]\naccount_id = "{ACCOUNT}"\nregion = "us-east-1"\n{pacing}'
                f'[environments.bench.scope]\nparameter_paths = ["{PATH}"]\n')
    with open(os.path.join(folder, "bench", "parameters.toml"), "w") as f:
        for i in range(count):
            value = f"value-{i}-changed" if i < changed else f"value-{i}"
            f.write(f'[parameters."{PATH}p{i}"]\nvalue = "{value}"\n')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--apply-count", type=int, default=300)
    parser.add_argument("--rate", type=float, default=3.0, help="PutParameter quota a second")
    parser.add_argument("--put-rate", type=float, default=None,
                        help="ssm_put_rate for the apply (default: the quota; 0: not set)")
    parser.add_argument("--latency", type=int, default=0, help="milliseconds added to every call")
    parser.add_argument("--binary", default=RELEASE_BINARY)
    args = parser.parse_args()
    n, m = args.count, args.apply_count

    server, endpoint = start_emulator()
    work = tempfile.mkdtemp(prefix="plumb-bench-")
    env = dict(plumb_env(endpoint, ACCOUNT), PLUMB_CACHE_DIR=os.path.join(work, "cache"))
    desired = os.path.join(work, "desired")

    for start in range(0, n, 1000):
        batch = [{"name": f"{PATH}p{i}", "value": f"value-{i}"} for i in range(start, min(n, start + 1000))]
        control(endpoint, "POST", "/_plumb/seed/ssm", {"account": ACCOUNT, "parameters": batch})
    write_desired(desired, n)

    validate_times = []
    for _ in range(3):
        code, wall, _, err = run_measured(args.binary, ["validate"], work, env)
        assert code == 0, err
        validate_times.append(wall)

    if args.latency:
        control(endpoint, "POST", "/_plumb/faults", {"account": ACCOUNT, "operation": "*",
                                                     "kind": "latency", "delay_ms": args.latency})
    plans = {}
    for name, flags in [("cold cache", []), ("warm cache", []), ("--no-cache", ["--no-cache"])]:
        before = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
        code, wall, rss, cpu, err = run_measured_cpu(args.binary, ["plan", "--detailed-exitcode", *flags], work, env)
        assert code == 0, f"plan of an unchanged store should be empty (exit {code}): {err}"
        after = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
        made = {op: after[op] - before.get(op, 0) for op in sorted(after) if after[op] - before.get(op, 0)}
        plans[name] = (wall, rss, cpu, made)
    if args.latency:
        control(endpoint, "DELETE", f"/_plumb/faults?account={ACCOUNT}")

    put_rate_setting = args.rate if args.put_rate is None else args.put_rate
    write_desired(desired, n, changed=m, put_rate=put_rate_setting)
    control(endpoint, "POST", "/_plumb/faults", {"account": ACCOUNT, "operation": "PutParameter",
                                                 "kind": "quota", "rate": args.rate, "burst": args.rate})
    before = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
    code, apply_wall, apply_rss, err = run_measured(args.binary, ["apply", "--auto-approve"], work, env)
    after = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
    throttled = control(endpoint, "GET", f"/_plumb/faults/throttled?account={ACCOUNT}")
    puts = after.get("PutParameter", 0) - before.get("PutParameter", 0)
    span = control(endpoint, "GET", f"/_plumb/calls/span?account={ACCOUNT}&operation=PutParameter")
    put_rate = (puts - 1) / span if span > 0 else float("nan")
    failed = err.count("\n  bench:") if code != 0 else 0
    server.stdin.close()

    floor = math.ceil(n / 10) + math.ceil(n / 50)
    latency = f", {args.latency} ms added to every call" if args.latency else ""
    print(f"## {n:,} parameters{latency}\n")
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, release build, moto 5.2.1 on loopback.\n")
    print("| figure | result | target |")
    print("|---|---|---|")
    # The targets: under 0.3 s for a repository's usual size, under 1 s at AWS's 100,000 limit.
    validate_target = "< 1 s" if n > 10_000 else "< 0.3 s"
    print(f"| `plumb validate` wall time (best of 3) | {min(validate_times):.3f} s | {validate_target} |")
    for name, (wall, rss, cpu, made) in plans.items():
        target = f"by-path floor {floor}" if name == "--no-cache" else ("≤ by-path floor" if name == "cold cache" else "⌈N/50⌉ + a handful")
        print(f"| `plumb plan`, {name}: wall time / peak memory / plumb's CPU (user + sys) | {wall:.1f} s / {rss:.1f} MB / {cpu:.2f} s | |")
        print(f"| `plumb plan`, {name}: AWS calls | {sum(made.values())} | {target} |")
        for op, count in made.items():
            print(f"| &nbsp;&nbsp;{op} | {count} | |")
    setting = f"`ssm_put_rate = {put_rate_setting:g}`" if put_rate_setting else "`ssm_put_rate` not set"
    print(f"| `plumb apply` of {m} changed values, quota {args.rate:g}/s, {setting} | {apply_wall:.1f} s, exit {code} | no failed change |")
    print(f"| &nbsp;&nbsp;PutParameter calls / rate kept (first to last call) | {puts} calls, {put_rate:.2f}/s | ≤ {args.rate:g}/s |")
    print(f"| &nbsp;&nbsp;calls throttled by the quota / failed changes | {throttled} / {failed} | 0 failed |")
    print(f"| `plumb apply` peak memory | {apply_rss:.1f} MB | |")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
