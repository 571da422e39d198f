"""The tutorials in docs/tutorials run, render with their figures, stay in sync, and link real functions."""
import os
import re

import pytest

from snnref import tutorials
from snnref.errors import SnnrefError

pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs", "tutorials")
SCRIPTS = sorted(f for f in os.listdir(DOCS) if re.match(r"^\d\d_.*\.py$", f))
PNG = b"\x89PNG\r\n\x1a\n"
LINK = re.compile(r"\[`(\w+)`\]\(\.\./\.\./(snnref/[\w/]+\.py)\)")


def _text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


_NUMBER = re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?|-?\d+e[+-]?\d+")


def _normalise(text):
    def fmt(m):
        v = float(m.group(0))
        return "0" if abs(v) < 1e-9 else f"{v:.6g}"
    return _NUMBER.sub(fmt, text)


def test_six_tutorials_in_order():
    assert [s[:2] for s in SCRIPTS] == ["01", "02", "03", "04", "05", "06"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("tutorials")
    return out, {s: tutorials.render(os.path.join(DOCS, s), str(out), fast=True) for s in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_renders_with_its_figures(rendered, script):
    out, mds = rendered
    with open(mds[script], encoding="utf-8") as f:
        md = f.read()
    figs = re.findall(r"!\[figure \d+\]\(([^)]+\.png)\)", md)
    if not script.startswith("06"):
        assert figs, f"{script} shows no figure"
    for name in figs:
        with open(out / name, "rb") as f:
            data = f.read()
        assert data[:8] == PNG and len(data) > 5000, name
    # the committed rendering is the one the script produces now (numbers to 6 digits: the last bits of
    # float sums may differ between machines)
    committed = _text(os.path.join(DOCS, script[:-3] + ".md"))
    assert _normalise(committed) == _normalise(md), \
        f"docs/tutorials/{script[:-3]}.md is stale: run python -m snnref.tutorials docs/tutorials/{script}"
    for name in figs:
        assert os.path.exists(os.path.join(DOCS, name)), f"committed figure {name} missing"


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_links_name_existing_functions(script):
    with open(os.path.join(DOCS, script), encoding="utf-8") as f:
        text = f.read()
    links = LINK.findall(text)
    assert links, f"{script} links no function"
    for name, path in links:
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            src = f.read()
        assert re.search(rf"^(def {name}\(|{name} = )", src, re.M), f"{path} defines no {name}"
    assert re.search(r"spec \d+\.\d+", text), f"{script} cites no spec section"


def _pair(md, first, second):
    a = float(re.search(re.escape(first) + r"\s*=\s*(-?[\d.]+)", md).group(1))
    b = float(re.search(re.escape(second) + r"\s*=\s*(-?[\d.]+)", md).group(1))
    return a, b


def test_tutorial_checks_hold(rendered):
    """The numbers the tutorials show agree where the text says they do."""
    _, mds = rendered
    read = {s[:2]: _text(p) for s, p in mds.items()}
    a, b = _pair(read["02"], "act_rnn <grad, u>", "finite difference")
    assert a == pytest.approx(b, rel=1e-7, abs=1e-9)
    a, b = _pair(read["02"], "act_srm <grad, u>", "finite difference (frozen reset)")
    assert a == pytest.approx(b, rel=1e-7, abs=1e-9)
    a, b = _pair(read["03"], "timing <grad, u>", "finite difference Ltil")
    assert a == pytest.approx(b, rel=1e-7, abs=1e-9)
    assert "correct transcription: first difference = None" in read["06"]


def test_parse_cells_and_errors(tmp_path):
    src = "import os\n# %% [markdown]\n# # Title\n# text\n\n# %%\nx = 1\nx + 1\n"
    assert tutorials.parse_cells(src) == [("code", "import os"), ("markdown", "# Title\ntext"),
                                          ("code", "x = 1\nx + 1")]
    ok = tmp_path / "t.py"
    ok.write_text("# %%\nprint('hi')\n1 + 1\n")
    md = _text(tutorials.render(str(ok)))
    assert "```text\nhi\n2\n```" in md
    bad = tmp_path / "bad.py"
    bad.write_text("# %%\nx = 1\n# %%\n1 / 0\n")
    with pytest.raises(RuntimeError, match="cell 2 failed"):
        tutorials.render(str(bad))
    (tmp_path / "plain.py").write_text("x = 1\n")
    with pytest.raises(SnnrefError, match="percent-format"):
        tutorials.render(str(tmp_path / "plain.py"))
