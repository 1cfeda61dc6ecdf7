"""CI runs the atheris harness briefly: a bounded number of inputs, any finding fails the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_input.py"
SEEDS = HARNESS.parent / "seeds"


def test_the_input_front_survives_a_short_fuzzing_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    result = subprocess.run(
        [sys.executable, str(HARNESS), "-runs=20000", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert result.returncode == 0 and not findings, (findings, result.stderr[-2000:])
    assert "Done 20000 runs" in result.stderr
