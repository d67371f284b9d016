"""What the benchmarks share: the emulator, its control API, and measured runs of plumb."""

import json
import os
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE_BINARY = os.path.join(ROOT, "target/release/plumb")


def start_emulator():
    """Starts emulator/server.py on a free port; returns (process, endpoint). The server exits
    when the process's stdin closes."""
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "emulator/server.py"), "--port", "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return server, f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"


def plumb_env(endpoint, account):
    """The standard AWS SDK environment, pointed at the emulator, in `account`."""
    return dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=f"AKIDTEST{account}",
                AWS_SECRET_ACCESS_KEY="emulator", AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")


def control(endpoint, method, path, body=None):
    """A call to the emulator's control API (/_plumb/...)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def calls(endpoint, account):
    return control(endpoint, "GET", f"/_plumb/calls?account={account}")


def run_measured(binary, args, cwd, env):
    """Runs plumb; returns (exit code, wall seconds, peak memory in MB, stderr)."""
    code, wall, rss, _, stderr = run_measured_cpu(binary, args, cwd, env)
    return code, wall, rss, stderr


def run_measured_cpu(binary, args, cwd, env):
    """Runs plumb; returns (exit code, wall seconds, peak memory in MB, CPU seconds (user +
    system: plumb's own work, whatever the emulator takes), stderr)."""
    start = time.monotonic()
    process = subprocess.Popen([binary, *args], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    stderr = process.stderr.read().decode()
    cpu = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss / 1024.0, cpu, stderr


def measured_plan(binary, work, endpoint, account):
    """A `plumb plan` that must find nothing to change; returns (wall, peak MB, calls by op)."""
    before = calls(endpoint, account)
    code, wall, rss, stderr = run_measured(binary, ["plan", "--detailed-exitcode"], work, plumb_env(endpoint, account))
    assert code == 0, f"plan should show no changes (exit {code}): {stderr}"
    after = calls(endpoint, account)
    made = {op: after[op] - before.get(op, 0) for op in sorted(after) if after[op] - before.get(op, 0)}
    return wall, rss, made


def print_plan_report(title, wall, rss, made):
    print(f"## {title}\n")
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, release build, moto 5.2.1 on loopback.\n")
    print("| figure | result |")
    print("|---|---|")
    print(f"| `plumb plan` wall time (no changes) | {wall:.2f} s |")
    print(f"| `plumb plan` peak memory (max RSS) | {rss:.1f} MB |")
    print(f"| `plumb plan` AWS calls | {sum(made.values())} |")
    for op, count in made.items():
        print(f"| &nbsp;&nbsp;{op} | {count} |")
