"""Benchmark: plumb's plan next to a sequential by-path reader (ssm-diff 0.5, from PyPI).

    bench/run peers [--count 2000] [--latency 25]

Seeds N parameters, adds `--latency` ms to every call (as a distant AWS endpoint would), and
measures, one run each against the same emulator:
  * plumb plan with a cold value cache (the first plan on a machine);
  * plumb plan with a warm one (the next plans);
  * `ssm-diff plan` over the same path: GetParametersByPath, 10 a page, one page after the
    other, which is what every careful by-path reader pays.
Reports calls by operation and wall time. ssm-diff is installed into .venv-bench/ on first
use; on Python 3.10+ it needs `collections.MutableMapping`, put back by a shim (it predates
`collections.abc`). The install is pinned by version only, not by hash (its dependencies,
boto3 among them, are not pinned at all): it runs on the benchmarking machine, in a venv of
its own, never in CI or in plumb's build; pin hashes before running it anywhere that holds
real credentials.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from harness import RELEASE_BINARY, ROOT, control, plumb_env, run_measured, start_emulator
from ssm import ACCOUNT, PATH, write_desired

VENV = os.path.join(ROOT, ".venv-bench")
SHIM = ("import collections, collections.abc, runpy, sys; "
        "collections.MutableMapping = collections.abc.MutableMapping; "
        "sys.argv = [sys.argv[1]] + sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def ssm_diff():
    """The ssm-diff script and the Python to run it with, installed on first use."""
    python = os.path.join(VENV, "bin", "python")
    script = os.path.join(VENV, "bin", "ssm-diff")
    if not os.path.exists(script):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "ssm-diff==0.5"], check=True)
    return python, script


def measure(endpoint, command, cwd, env):
    """Runs `command`; returns (exit code, wall seconds, AWS calls by operation, output)."""
    before = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
    start = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = control(endpoint, "GET", f"/_plumb/calls?account={ACCOUNT}")
    made = {op: after[op] - before.get(op, 0) for op in sorted(after) if after[op] - before.get(op, 0)}
    return done.returncode, wall, made, done.stdout + done.stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=25, help="milliseconds added to every call")
    parser.add_argument("--binary", default=RELEASE_BINARY)
    args = parser.parse_args()
    python, script = ssm_diff()

    server, endpoint = start_emulator()
    work = tempfile.mkdtemp(prefix="plumb-peers-")
    env = dict(plumb_env(endpoint, ACCOUNT), PLUMB_CACHE_DIR=os.path.join(work, "cache"),
               AWS_DEFAULT_REGION="us-east-1")
    for start in range(0, args.count, 1000):
        batch = [{"name": f"{PATH}p{i}", "value": f"value-{i}"} for i in range(start, min(args.count, start + 1000))]
        control(endpoint, "POST", "/_plumb/seed/ssm", {"account": ACCOUNT, "parameters": batch})
    write_desired(os.path.join(work, "desired"), args.count)
    # ssm-diff compares with a YAML snapshot of the store: taken before the clock starts.
    peer = [python, "-c", SHIM, script, "-f", os.path.join(work, "state.yml"), "--path", PATH.rstrip("/")]
    code, _, _, out = measure(endpoint, peer + ["init"], work, env)
    assert code == 0, out

    control(endpoint, "POST", "/_plumb/faults", {"account": ACCOUNT, "operation": "*",
                                                 "kind": "latency", "delay_ms": args.latency})
    plan = [args.binary, "plan", "--detailed-exitcode"]
    runs = {}
    for name, command in [("plumb plan, cold cache", plan), ("plumb plan, warm cache", plan),
                          ("ssm-diff plan (sequential by path)", peer + ["plan"])]:
        code, wall, made, out = measure(endpoint, command, work, env)
        assert code == 0, f"{name}: exit {code}: {out}"
        if "ssm-diff" in name:
            assert "up to date" in out, f"ssm-diff should find no difference: {out}"
        runs[name] = (wall, made)
    server.stdin.close()

    peer_wall, peer_made = runs["ssm-diff plan (sequential by path)"]
    peer_calls = sum(peer_made.values())
    print(f"## Side by side: {args.count:,} parameters, {args.latency} ms added to every call\n")
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, release build, moto 5.2.1 on loopback; "
          "one run each, same emulator.\n")
    print("| reader | AWS calls (by operation) | wall time | fewer calls than ssm-diff | faster than ssm-diff |")
    print("|---|---|---|---|---|")
    for name, (wall, made) in runs.items():
        ops = ", ".join(f"{op} {n}" for op, n in made.items())
        calls = sum(made.values())
        print(f"| {name} | {calls} ({ops}) | {wall:.2f} s | {peer_calls / calls:.2f}x | {peer_wall / wall:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
