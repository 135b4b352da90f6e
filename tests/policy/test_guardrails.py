"""The shared guardrail attack corpus through `warden policy check --cases` (the Done-when)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT.parent / "shared" / "tools" / "check-guardrails"


def test_the_attack_corpus_has_no_bypass_and_agrees() -> None:
    assert TOOL.is_file(), f"{TOOL} is missing: the shared tools belong beside the checkout"
    result = subprocess.run(
        [sys.executable, str(TOOL)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    found = re.fullmatch(r"bypasses=(\d+) overblocks=(\d+) agree=(\d+)/(\d+)", summary)
    assert result.returncode == 0 and found, result.stdout + result.stderr
    bypasses, _, agree, total = map(int, found.groups())
    assert bypasses == 0
    assert agree >= 0.98 * total
