"""Decisions per second of `warden policy check --cases`, beside the time to only parse
the same JSON lines, measured in the same run.

    .venv/bin/python bench/policy_bench.py [--cases 10000] [--runs 3]

The cases cycle through the shared dev corpus (../shared/data/guardrail-cases-dev.jsonl,
contract keys only, fresh ids) against ../shared/data/policy.yaml. Both figures are whole
processes, start-up included, as a user or CI runs them; the best of ``--runs`` counts.
Goal: at least 10,000 decisions/s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CASE_KEYS = ("alert", "proposal_raw", "history", "now")
GOAL = 10_000
PARSE_ONLY = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"


def write_cases(path: Path, count: int) -> None:
    corpus = [json.loads(line) for line in (DATA / "guardrail-cases-dev.jsonl").open()]
    with path.open("w", encoding="utf-8") as out:
        for number, case in zip(range(count), itertools.cycle(corpus), strict=False):
            line = {"id": f"bench-{number}", **{k: case[k] for k in CASE_KEYS if k in case}}
            out.write(json.dumps(line) + "\n")


def best_of(runs: int, command: list[str]) -> tuple[float, str]:
    best, stdout = float("inf"), ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - started)
        stdout = done.stdout
    return best, stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    warden = str(Path(sys.executable).with_name("warden"))
    policy = str(DATA / "policy.yaml")
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
        cases, empty = Path(tmp) / "cases.jsonl", Path(tmp) / "empty.jsonl"
        write_cases(cases, args.cases)
        empty.write_text("")
        check = [warden, "policy", "check", "--policy", policy, "--cases"]
        check_s, out = best_of(args.runs, [*check, str(cases)])
        startup_s, _ = best_of(args.runs, [*check, str(empty)])
        parse_s, _ = best_of(args.runs, [sys.executable, "-c", PARSE_ONLY, str(cases)])
    decided = len(out.splitlines())
    if decided != args.cases:
        print(f"ERROR: {decided} results for {args.cases} cases")
        return 1
    rate = args.cases / check_s
    print(f"cases: {args.cases} (best of {args.runs} runs, whole processes)")
    print(
        f"warden policy check --cases: {check_s:.3f} s = {rate:,.0f} decisions/s "
        f"(start-up {startup_s:.3f} s; {args.cases / (check_s - startup_s):,.0f}/s without it)"
    )
    print(f"json.loads of the same lines: {parse_s:.3f} s = {args.cases / parse_s:,.0f} lines/s")
    print(f"goal {GOAL:,} decisions/s: {'met' if rate >= GOAL else 'NOT met'}")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
