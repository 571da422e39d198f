"""A regular (non-editable) install finds the shipped MNIST and the presets from any directory.

The source tree is copied to a temporary directory and installed with pip into a temporary target
directory (no network: --no-index, --no-build-isolation, --no-deps); the installed copy is then
imported from yet another directory with nothing of the checkout on the path.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import snnref

REPO = Path(snnref.__file__).resolve().parents[1]
_IGNORE = shutil.ignore_patterns(".git", "runs", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
                                 ".pytest_cache", "results")

_CHECK = """
import os, sys
import snnref, snnref.data
from snnref.data import default_data_dir, load_mnist
from snnref.config import list_presets
target = sys.argv[1]
assert snnref.__file__.startswith(target), snnref.__file__
assert str(default_data_dir()).startswith(target), default_data_dir()
x, y = load_mnist("test", limit=5)            # SHA-256 checked
assert x.shape == (5, 28, 28) and list(y) == [7, 2, 1, 0, 4], list(y)
x, y = load_mnist("train", limit=3)
assert list(y) == [5, 0, 4], list(y)
assert "quickstart" in list_presets()
print("ok", default_data_dir())
"""


def test_regular_install_finds_shipped_mnist(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_IGNORE)
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SNNREF_DATA_DIR")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                          "--no-build-isolation", "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (target / "snnref" / "data" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["PYTHONPATH"] = str(target)
    res = subprocess.run([sys.executable, "-c", _CHECK, str(target)], capture_output=True, text=True, timeout=300,
                         env=env, cwd=elsewhere)
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stdout + res.stderr
