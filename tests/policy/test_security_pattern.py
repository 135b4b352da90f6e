"""The built-in policy's security patterns catch inflected, plural and common forms
(``credentials``, ``brute forcing``, ``SQL injection``, ``ransomware``...) and leave
everyday operations words alone; the cases are a `warden policy test` file a team can read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARDEN = Path(sys.executable).with_name("warden")
DEFAULT_POLICY = ROOT / "warden" / "policy" / "default_policy.yaml"
CASES = Path(__file__).with_name("security-pattern-tests.yaml")


def test_the_default_security_patterns_hold_inflected_forms_for_a_human() -> None:
    run = subprocess.run([str(WARDEN), "policy", "test", "--policy", str(DEFAULT_POLICY),
                          str(CASES)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "34 passed, 0 failed" in run.stdout
    assert "ok   security word: brute forcing" in run.stdout
