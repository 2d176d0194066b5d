#!/usr/bin/env python3
"""The layering the compiler enforces, checked so that nobody loosens it by editing a Cargo.toml.

ARCHITECTURE.md draws the crates and what each may depend on. The compiler refuses an import of a
crate that is not a dependency; this check refuses a dependency the design forbids:

1. Each workspace crate depends (normally, not dev) only on the workspace crates its row allows.
2. The domain's external dependencies are pure: serde, serde_json, thiserror, time, rust_decimal,
   sha2 (no tokio, no AWS, no HTTP, no file I/O crate).
3. The core links no technology: no aws-*, reqwest, hyper, axum, lambda_*, tempfile, clap, csv.
4. Each Lambda links only what it runs (`cargo tree -p <function> -e normal`): the webhook no clap,
   csv, tempfile, reqwest, ERP or Shopify Admin code.
5. No module import circle inside a crate (top-level modules, from `crate::<module>` paths).
6. No source file over 600 lines outside its `#[cfg(test)]` part.

  python3 infra/check_layers.py        (exit 1 with every finding; run by infra/test.sh)
"""

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What each workspace crate may depend on (normal dependencies, workspace crates only).
ALLOWED = {
    "stockbridge-domain": set(),
    "stockbridge-shopify": {"stockbridge-domain"},
    "stockbridge-core": {"stockbridge-domain", "stockbridge-shopify"},
    "stockbridge-memory": {"stockbridge-domain", "stockbridge-core"},
    "stockbridge-ops": {"stockbridge-domain", "stockbridge-shopify", "stockbridge-core"},
    "stockbridge-aws": {"stockbridge-domain", "stockbridge-core"},
    "stockbridge-http": {"stockbridge-core"},
    "stockbridge-erp": {"stockbridge-domain", "stockbridge-core", "stockbridge-http"},
    "stockbridge-shopify-admin": {"stockbridge-domain", "stockbridge-core", "stockbridge-http"},
    "stockbridge-lambda": {"stockbridge-core"},
    "webhook": {"stockbridge-core", "stockbridge-aws", "stockbridge-lambda"},
    "stock-consumer": {"stockbridge-core", "stockbridge-aws", "stockbridge-erp",
                       "stockbridge-shopify-admin", "stockbridge-lambda"},
    "reconcile": {"stockbridge-domain", "stockbridge-core", "stockbridge-aws", "stockbridge-erp",
                  "stockbridge-shopify-admin", "stockbridge-lambda"},
    "storefront-api": {"stockbridge-core", "stockbridge-aws", "stockbridge-lambda"},
    "erp-poller": {"stockbridge-domain", "stockbridge-core", "stockbridge-aws", "stockbridge-erp",
                   "stockbridge-shopify-admin", "stockbridge-lambda"},
    "erp-sync": {"stockbridge-domain", "stockbridge-core", "stockbridge-aws", "stockbridge-shopify-admin",
                 "stockbridge-lambda"},
    # Tools: anything but each other's internals.
    "stockbridge-cli": None,
    "stockbridge-drill": None,
    "stockbridge-testkit": set(),
}

DOMAIN_EXTERNAL = {"serde", "serde_json", "thiserror", "time", "rust_decimal", "sha2"}
CORE_FORBIDDEN = re.compile(r"^(aws-|aws_|reqwest|hyper|axum|lambda_|tempfile|clap|csv)")
FUNCTION_FORBIDDEN = {
    "webhook": re.compile(r"^(clap|csv|tempfile|reqwest|stockbridge-erp|stockbridge-shopify-admin|stockbridge-ops)$"),
    "stock-consumer": re.compile(r"^(clap|csv|tempfile|stockbridge-ops)$"),
    "reconcile": re.compile(r"^(clap|csv|stockbridge-ops)$"),
    "erp-poller": re.compile(r"^(clap|csv|tempfile|stockbridge-ops)$"),
    "erp-sync": re.compile(r"^(clap|csv|stockbridge-erp|stockbridge-ops)$"),
    "storefront-api": re.compile(r"^(clap|csv|tempfile|reqwest|stockbridge-erp|stockbridge-shopify-admin|stockbridge-ops|stockbridge-http)$"),
}
MAX_LINES = 600


def metadata() -> dict:
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def tree(package: str) -> set[str]:
    out = subprocess.run(["cargo", "tree", "-p", package, "-e", "normal", "--prefix", "none",
                          "--format", "{p}"], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def code_lines(path: Path) -> int:
    n = 0
    for line in path.read_text().splitlines():
        if line.startswith("#[cfg(test)]"):
            break
        n += 1
    return n


def module_of(src: Path, file: Path) -> str | None:
    rel = file.relative_to(src)
    if rel.parts[0] in ("lib.rs", "main.rs"):
        return None
    return rel.parts[0].removesuffix(".rs")


def cycles(src: Path) -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for file in src.rglob("*.rs"):
        here = module_of(src, file)
        if here is None:
            continue
        text = file.read_text().split("#[cfg(test)]")[0]
        # Doc links and comments name modules without importing them.
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for m in re.finditer(r"\bcrate::([a-z_][a-z0-9_]*)", text):
            there = m.group(1)
            is_module = (src / f"{there}.rs").exists() or (src / there / "mod.rs").exists()
            if there != here and is_module:
                edges[here].add(there)
    found, state, stack = [], {}, []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges[n]):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def main() -> int:
    meta = metadata()
    members = {p["name"]: p for p in meta["packages"]}
    problems: list[str] = []

    for name, pkg in sorted(members.items()):
        if name not in ALLOWED:
            problems.append(f"{name}: not in the layering table of infra/check_layers.py (and ARCHITECTURE.md)")
            continue
        internal = {d["name"] for d in pkg["dependencies"]
                    if d["name"] in members and d.get("kind") in (None, "normal")}
        allowed = ALLOWED[name]
        if allowed is not None:
            for d in sorted(internal - allowed):
                problems.append(f"{name} depends on {d}, which the layering forbids")
        if name == "stockbridge-domain":
            external = {d["name"] for d in pkg["dependencies"] if d.get("kind") in (None, "normal")}
            for d in sorted(external - DOMAIN_EXTERNAL):
                problems.append(f"stockbridge-domain depends on {d}: the domain stays pure ({', '.join(sorted(DOMAIN_EXTERNAL))})")
        src = Path(pkg["manifest_path"]).parent / "src"
        for cycle in cycles(src):
            problems.append(f"{name}: module import circle {' -> '.join(cycle)}")
        for file in sorted(src.rglob("*.rs")):
            n = code_lines(file)
            if n > MAX_LINES:
                problems.append(f"{file.relative_to(ROOT)}: {n} lines outside tests (limit {MAX_LINES})")

    core = tree("stockbridge-core")
    for crate in sorted(c for c in core if CORE_FORBIDDEN.match(c)):
        problems.append(f"stockbridge-core links {crate}: the core names no technology")
    for function, forbidden in FUNCTION_FORBIDDEN.items():
        for crate in sorted(c for c in tree(function) if forbidden.match(c)):
            problems.append(f"{function} links {crate}, which it never runs")

    for p in problems:
        print(f"FAIL {p}")
    print(f"layers: {len(members)} crates checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
