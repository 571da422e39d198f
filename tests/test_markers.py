"""`python -m pytest -m slow` selects the slow accuracy tests although setup.cfg deselects them by default."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args):
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args,
                          "tests/test_slow.py"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env=os.environ.copy())
    return res.stdout


def test_slow_marker_overrides_the_default_deselection():
    selected = _collect("-m", "slow")
    names = [line for line in selected.splitlines() if "::" in line]
    assert any("test_quickstart_reaches_its_figure" in n for n in names), selected
    assert any("test_tsslbp_mlp_above_floor" in n for n in names), selected
    assert len(names) >= 3
    default = _collect()
    assert not [line for line in default.splitlines() if "::" in line], default
    assert "deselected" in default
