#!/usr/bin/env python3
"""Prints the `hot_paths` benchmarks next to their floors, from Criterion's saved estimates.

Reads `target/criterion/<group>/{subject,floor}/new/estimates.json` (written by
`cargo bench -p stockbridge-core --bench hot_paths`) and prints a Markdown table: bench, time (median,
with Criterion's 95% confidence interval), floor time, ratio of the medians. Extra functions in a
group are listed too: `floor_*` as another floor for the subject, others against the floor.

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

EXTRA = {
    "floor_ignored": "HMAC + from_slice::<IgnoredAny>",
    "from_json": "InventoryEvent::from_json x100 (the consumer's decoder)",
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
        rows = [(SUBJECT.get(kind, "subject"), s, s_ci, FLOOR.get(kind, "floor"), f, f_ci)]
        # Extra functions in a group: `floor_*` are alternative floors for the subject; anything
        # else is another subject measured against the main floor.
        for extra in sorted(p.name for p in (args.criterion_dir / g).iterdir()):
            if extra in ("subject", "floor", "report") or not (args.criterion_dir / g / extra / "new").is_dir():
                continue
            e, e_ci, _ = load(args.criterion_dir / g / extra)
            if extra.startswith("floor_"):
                rows.append((SUBJECT.get(kind, "subject"), s, s_ci, EXTRA.get(extra, extra), e, e_ci))
            else:
                rows.append((EXTRA.get(extra, extra), e, e_ci, FLOOR.get(kind, "floor"), f, f_ci))
        for what, s, s_ci, floor, f, f_ci in rows:
            print(
                f"| `{g}` | {size} | {what} "
                f"| {fmt_ns(s)} ({fmt_ns(s_ci['lower_bound'])}–{fmt_ns(s_ci['upper_bound'])}) "
                f"| {floor} | {fmt_ns(f)} ({fmt_ns(f_ci['lower_bound'])}–{fmt_ns(f_ci['upper_bound'])}) "
                f"| {s / f:.2f}× |"
            )


if __name__ == "__main__":
    main()
