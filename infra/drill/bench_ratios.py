#!/usr/bin/env python3
"""Prints the `hot_paths` benchmarks next to their floors, from Criterion's saved estimates.

Reads `target/criterion/<group>/{subject,floor}/new/estimates.json` (written by
`cargo bench -p stockbridge --bench hot_paths`) and prints a Markdown table: bench, time (median,
with Criterion's 95% confidence interval), floor time, ratio of the medians, throughput.

  python3 infra/drill/bench_ratios.py [--criterion-dir target/criterion]
"""

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ORDER = [
    "webhook_inventory_levels_update",
    "webhook_orders_create_1",
    "webhook_orders_create_10",
    "webhook_orders_create_50",
    "consumer_hot_sku_100",
    "consumer_spread_100",
]

SUBJECT = {
    "webhook": "verify + normalise",
    "consumer": "resolve x100 + plan_batch",
}
FLOOR = {
    "webhook": "HMAC + from_slice::<Value>",
    "consumer": "from_str::<InventoryEvent> x100",
}


def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


def load(path):
    est = json.loads((path / "new" / "estimates.json").read_text())
    bench = json.loads((path / "new" / "benchmark.json").read_text())
    m = est["median"]
    return m["point_estimate"], m["confidence_interval"], bench.get("throughput")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "criterion"
    ap.add_argument("--criterion-dir", type=Path, default=default)
    args = ap.parse_args()

    groups = sorted(p.name for p in args.criterion_dir.iterdir() if (p / "subject" / "new").is_dir())
    groups = [g for g in ORDER if g in groups] + [g for g in groups if g not in ORDER]
    print("| bench | bytes / events | what | time (median, 95% CI) | floor | floor time | ratio |")
    print("|---|---|---|---|---|---|---|")
    for g in groups:
        kind = g.split("_", 1)[0]
        s, s_ci, tp = load(args.criterion_dir / g / "subject")
        f, f_ci, _ = load(args.criterion_dir / g / "floor")
        if tp and "Bytes" in tp:
            size = f"{tp['Bytes']:,} B"
        elif tp and "Elements" in tp:
            size = f"{tp['Elements']} events"
        else:
            size = ""
        print(
            f"| `{g}` | {size} | {SUBJECT.get(kind, 'subject')} "
            f"| {fmt_ns(s)} ({fmt_ns(s_ci['lower_bound'])}–{fmt_ns(s_ci['upper_bound'])}) "
            f"| {FLOOR.get(kind, 'floor')} | {fmt_ns(f)} ({fmt_ns(f_ci['lower_bound'])}–{fmt_ns(f_ci['upper_bound'])}) "
            f"| {s / f:.2f}× |"
        )


if __name__ == "__main__":
    main()
