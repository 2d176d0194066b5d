#!/usr/bin/env python3
"""Cold start of each function binary against a fake Lambda Runtime API (init only).

For each binary, N times: start it with AWS_LAMBDA_RUNTIME_API pointing at a fresh
`fake_runtime.FakeRuntime` and the environment it needs (dummy region and credentials, no AWS
endpoint reachable), and measure

  - ready:  process start (just before exec) to its first GET .../invocation/next, i.e. init done;
  - VmHWM:  peak resident set size, read from /proc/<pid>/status once it is ready;
  - size:   the release binary on disk (the release profile strips it).

Then one extra run per binary under `strace -f -e trace=connect` lists every socket it connected
to before it was ready: anything but the runtime API would be a network call at init.

  python3 infra/drill/coldstart.py [--runs 10] [--no-build] [--markdown docs/perf/coldstart.md]
      [--baseline DIR [--baseline-label e180e77]]

With --baseline, the release binaries under DIR/release (another checkout's target directory,
built the same way) are measured in the same run, each run of one binary followed by a run of
the other, and a before/after table is printed with the ratios.
"""

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_runtime import FakeRuntime  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

COMMON_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIDDRILL",
    "AWS_SECRET_ACCESS_KEY": "drill",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/drill",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]drill",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
    "LAMBDA_TASK_ROOT": "/var/task",
    "RUST_LOG": "info",
}

FUNCTIONS = {
    "webhook": {
        "AWS_LAMBDA_FUNCTION_NAME": "stockbridge-webhook",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "STOCKBRIDGE_SHOP_SECRETS": "demo.myshopify.com=x",
        "EVENTS_QUEUE_URL": "http://127.0.0.1:1/q",
        "INBOX_TABLE": "t",
        "QUARANTINE_BUCKET": "quarantine",
    },
    "stock-consumer": {
        "AWS_LAMBDA_FUNCTION_NAME": "stockbridge-stock-consumer",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "STOCK_TABLE": "stock",
        "IDEMPOTENCY_TABLE": "idem",
        "SKUMAP_TABLE": "skumap",
        "INBOX_TABLE": "inbox",
        "EVENTS_QUEUE_URL": "http://127.0.0.1:1/q",
        "ERP_KIND": "none",
    },
    "reconcile": {
        "AWS_LAMBDA_FUNCTION_NAME": "stockbridge-reconcile",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "RECONCILE_SHOP": "demo.myshopify.com",
        "SHOPIFY_ADMIN_URL": "https://demo.myshopify.com",
        "SHOPIFY_ACCESS_TOKEN": "shpat_drill",
        "STOCK_TABLE": "stock",
        "IDEMPOTENCY_TABLE": "idem",
        "SKUMAP_TABLE": "skumap",
        "INBOX_TABLE": "inbox",
        "EVENTS_QUEUE_URL": "http://127.0.0.1:1/q",
        "EVENT_BUS_NAME": "bus",
        "ERP_KIND": "none",
        "RECONCILE_SHOPIFY_READ": "bulk",
    },
}


def env_for(name, runtime_api):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    env.update(COMMON_ENV)
    env.update(FUNCTIONS[name])
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    return env


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def run_once(binary, name, timeout=20.0, wrap=()):
    """One cold start; returns (ready_ms, vm_hwm_kib, stderr_text)."""
    rt = FakeRuntime().start()
    err = tempfile.TemporaryFile()
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*wrap, str(binary)],
            env=env_for(name, rt.address),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = t0 + timeout
        while not rt.wait_ready(0.005):
            if proc.poll() is not None or time.monotonic() > deadline or rt.init_failed():
                break
        ready = rt.first_next
        hwm = vm_hwm_kib(proc.pid) if ready is not None and proc.poll() is None else None
        proc.kill()
        proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        if ready is None:
            raise RuntimeError(
                f"{name} did not become ready (exit {proc.returncode}); "
                f"init errors: {rt.errors!r}; stderr:\n{stderr}"
            )
        return (ready - t0) * 1000.0, hwm, stderr
    finally:
        rt.stop()
        err.close()


def connects_before_ready(binary, name):
    """Sockets the process connected to before its first `next` (strace); None without strace."""
    strace = shutil.which("strace")
    if not strace:
        return None
    with tempfile.NamedTemporaryFile(suffix=".strace") as log:
        run_once(binary, name, wrap=(strace, "-f", "-qq", "-e", "trace=connect", "-o", log.name))
        text = Path(log.name).read_text()
    found = []
    for m in re.finditer(r'connect\(\d+, \{sa_family=(AF_INET6?|AF_UNIX)(.*?)\}', text):
        family, rest = m.groups()
        port = re.search(r"sin6?_port=htons\((\d+)\)", rest)
        addr = re.search(r'inet_(?:addr|pton)\([^"]*"([^"]+)"', rest)
        path = re.search(r'sun_path="([^"]+)"', rest)
        if path:
            found.append(f"unix:{path.group(1)}")
        elif addr and port:
            found.append(f"{addr.group(1)}:{port.group(1)}")
    return found


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--markdown", help="also write the table (and notes) to this file")
    ap.add_argument("--baseline", help="a target directory whose release binaries are measured too")
    ap.add_argument("--baseline-label", default="baseline")
    args = ap.parse_args()

    if not args.no_build:
        cmd = ["cargo", "build", "--release", "-p", "webhook", "-p", "stock-consumer", "-p", "reconcile"]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)

    if args.baseline:
        compare(args, Path(args.baseline))
        return

    rows = []
    for name in FUNCTIONS:
        binary = TARGET / "release" / name
        size = binary.stat().st_size
        file_desc = subprocess.run(["file", "-b", str(binary)], capture_output=True, text=True).stdout.strip() if shutil.which("file") else ""
        run_once(binary, name)  # page cache warm: measure init, not the first read from disk
        ready, hwm = [], []
        for _ in range(args.runs):
            ms, kib, _stderr = run_once(binary, name)
            ready.append(ms)
            hwm.append(kib)
        connects = connects_before_ready(binary, name)
        rows.append(
            {
                "name": name,
                "size": size,
                "file": file_desc,
                "p50": statistics.median(ready),
                "p90": pct(ready, 90),
                "min": min(ready),
                "max": max(ready),
                "hwm_p50": statistics.median(hwm),
                "hwm_max": max(hwm),
                "connects": connects,
            }
        )

    header = (
        "| binary | runs | ready p50 (ms) | ready p90 (ms) | min / max (ms) | peak RSS VmHWM p50 / max (MiB) "
        "| size, stripped (MiB) | sockets connected before ready (besides the runtime API) |"
    )
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        others = None if r["connects"] is None else [c for c in r["connects"] if not c.startswith("127.0.0.1:")]
        net = "not checked (no strace)" if others is None else (", ".join(others) or "none")
        lines.append(
            f"| `{r['name']}` | {args.runs} | {r['p50']:.1f} | {r['p90']:.1f} | {r['min']:.1f} / {r['max']:.1f} "
            f"| {r['hwm_p50'] / 1024:.1f} / {r['hwm_max'] / 1024:.1f} | {r['size'] / 1048576:.2f} ({r['size']:,} B) | {net} |"
        )
    table = "\n".join(lines)
    print(table)
    for r in rows:
        print(f"{r['name']}: {r['file']}; connects under strace: {r['connects']}", file=sys.stderr)
    host = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    print(f"host: {host}", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n\nhost: " + host + "\n")


def compare(args, baseline_target):
    """Before (baseline) and after, interleaved run by run, in one table."""
    lines = [
        f"| binary | size {args.baseline_label} → now (MiB) | ratio | ready p50 {args.baseline_label} → now (ms) "
        f"| ratio | peak RSS p50 {args.baseline_label} → now (MiB) | ratio |",
        "|" + "---|" * 7,
    ]
    for name in FUNCTIONS:
        before_bin = baseline_target / "release" / name
        after_bin = TARGET / "release" / name
        run_once(before_bin, name)
        run_once(after_bin, name)
        samples = {"before": ([], []), "after": ([], [])}
        for _ in range(args.runs):
            for label, binary in (("before", before_bin), ("after", after_bin)):
                ms, kib, _ = run_once(binary, name)
                samples[label][0].append(ms)
                samples[label][1].append(kib)
        size_b, size_a = before_bin.stat().st_size, after_bin.stat().st_size
        p50 = {k: statistics.median(v[0]) for k, v in samples.items()}
        hwm = {k: statistics.median(v[1]) / 1024 for k, v in samples.items()}
        lines.append(
            f"| `{name}` | {size_b / 1048576:.2f} → {size_a / 1048576:.2f} | {size_a / size_b:.2f} "
            f"| {p50['before']:.1f} → {p50['after']:.1f} | {p50['after'] / p50['before']:.2f} "
            f"| {hwm['before']:.1f} → {hwm['after']:.1f} | {hwm['after'] / hwm['before']:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    host = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    print(f"host: {host}; {args.runs} runs each, interleaved", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(table + f"\n\nhost: {host}; {args.runs} runs each, interleaved\n")


if __name__ == "__main__":
    main()
