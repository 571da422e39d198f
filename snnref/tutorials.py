r"""Run executable percent-format tutorials and render them to Markdown with their figures.

A tutorial is a plain Python script split into cells by lines starting with ``# %%``::

    # %% [markdown]
    # # Title
    # Text in Markdown; each line starts with "# ".

    # %%
    import snnref
    fig = snnref.plot.raster(trace)
    fig                     # the last expression of a cell is shown, as in a notebook

Rendering (``python -m snnref.tutorials docs/tutorials/*.py``) runs the cells in order in one
namespace and writes ``<name>.md`` next to the script (or into ``--out``): Markdown cells as text,
code cells as ``python`` blocks followed by what they printed, and the figures they produced as
PNG files ``<name>_<k>.png`` (k = 1, 2, ...; stale ones of earlier renders are removed). A figure is
shown when it is the value of the last expression of a cell (a matplotlib Figure, or a list/tuple of
them), or when it is still open in pyplot at the end of the cell. Every file is written
atomically. No Jupyter is needed.

``fast=True`` (``--fast``) sets the environment variable ``SNNREF_TUTORIAL_FAST=1`` while the
tutorial runs; tutorials may read it (:func:`fast_mode`) to use smaller sizes (CI).
"""
import argparse
import ast
import contextlib
import io
import os
import re
import sys
import traceback

from .errors import SnnrefError

__all__ = ["parse_cells", "render", "fast_mode", "main"]

FAST_ENV = "SNNREF_TUTORIAL_FAST"
_CELL = re.compile(r"^# %%(.*)$")


def fast_mode():
    """True while a tutorial is rendered with ``fast=True`` (environment ``SNNREF_TUTORIAL_FAST=1``)."""
    return os.environ.get(FAST_ENV, "") not in ("", "0")


def parse_cells(text):
    """Split percent-format source into a list of ``(kind, source)``, kind "markdown" or "code".

    Text before the first ``# %%`` line is a code cell if it is not blank. Markdown cells drop the
    leading ``"# "`` (or ``"#"``) of each line.
    """
    cells = []
    kind, lines = "code", []

    def flush():
        body = "\n".join(lines).strip("\n")
        if body.strip():
            if kind == "markdown":
                md = []
                for ln in body.split("\n"):
                    md.append(ln[2:] if ln.startswith("# ") else (ln[1:] if ln.startswith("#") else ln))
                body = "\n".join(md)
            cells.append((kind, body))

    for line in text.split("\n"):
        m = _CELL.match(line)
        if m:
            flush()
            kind = "markdown" if "[markdown]" in m.group(1) else "code"
            lines = []
        else:
            lines.append(line)
    flush()
    return cells


def _is_figure(obj):
    return hasattr(obj, "savefig") and hasattr(obj, "axes")


def _run_cell(source, namespace, filename):
    """Execute one code cell; returns (stdout text, value of the last expression or None)."""
    tree = ast.parse(source, filename=filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(tree, filename, "exec"), namespace)
        value = eval(compile(last, filename, "eval"), namespace) if last is not None else None
    return buf.getvalue(), value


def _pyplot_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    figs = [plt.figure(n) for n in plt.get_fignums()]
    return figs


def render(path, out_dir=None, *, fast=False, dpi=None):
    """Run the tutorial ``path`` and write ``<stem>.md`` plus its PNG figures; returns the Markdown path.

    Raises :class:`snnref.errors.SnnrefError` if the file is missing or not a percent-format
    script, and re-raises (with the cell number) any exception of a cell.
    """
    from .training.checkpoint import atomic_write_text
    from .plot import DPI, save

    path = os.fspath(path)
    if not os.path.isfile(path) or not path.endswith(".py"):
        raise SnnrefError(f"{path!r} is not a tutorial script (a .py file with '# %%' cells).")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cells = parse_cells(text)
    if not any(k == "code" for k, _ in cells) or "# %%" not in text:
        raise SnnrefError(f"{path!r} has no '# %%' code cells; it is not a percent-format tutorial.")
    out_dir = os.path.dirname(os.path.abspath(path)) if out_dir is None else os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    namespace = {"__name__": "__main__", "__file__": os.path.abspath(path)}
    parts = [f"<!-- Rendered from {os.path.basename(path)} by `python -m snnref.tutorials`; edit the .py file. -->", ""]
    n_fig = 0
    written = set()
    old_env = os.environ.get(FAST_ENV)
    os.environ[FAST_ENV] = "1" if fast else "0"
    cwd = os.getcwd()
    try:
        os.chdir(os.path.dirname(os.path.abspath(path)))
        for i, (kind, src) in enumerate(cells, 1):
            if kind == "markdown":
                parts += [src, ""]
                continue
            parts += ["```python", src, "```", ""]
            try:
                out, value = _run_cell(src, namespace, f"{path} [cell {i}]")
            except Exception as exc:
                raise RuntimeError(f"{path}: cell {i} failed:\n{traceback.format_exc()}") from exc
            figs = []
            if _is_figure(value):
                figs.append(value)
            elif isinstance(value, (list, tuple)) and value and all(_is_figure(v) for v in value):
                figs.extend(value)
            elif value is not None:
                out += repr(value) + "\n"
            for fig in _pyplot_figures():
                if all(fig is not g for g in figs):
                    figs.append(fig)
            if out.strip():
                parts += ["```text", out.rstrip("\n"), "```", ""]
            for fig in figs:
                n_fig += 1
                name = f"{stem}_{n_fig}.png"
                save(fig, os.path.join(out_dir, name), dpi=dpi or DPI)
                written.add(name)
                parts += [f"![figure {n_fig}]({name})", ""]
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                plt.close("all")
    finally:
        os.chdir(cwd)
        if old_env is None:
            os.environ.pop(FAST_ENV, None)
        else:
            os.environ[FAST_ENV] = old_env
    stale = re.compile(rf"^{re.escape(stem)}_\d+\.png$")
    for name in os.listdir(out_dir):
        if stale.match(name) and name not in written:
            os.remove(os.path.join(out_dir, name))
    md = os.path.join(out_dir, f"{stem}.md")
    atomic_write_text(md, "\n".join(parts).rstrip("\n") + "\n")
    return md


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m snnref.tutorials",
                                description="Run percent-format tutorials and write Markdown with their figures.")
    p.add_argument("files", nargs="+", metavar="TUTORIAL.py")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default: next to each script)")
    p.add_argument("--fast", action="store_true", help="set SNNREF_TUTORIAL_FAST=1 (smaller sizes, for CI)")
    args = p.parse_args(argv)
    status = 0
    for f in args.files:
        try:
            md = render(f, args.out, fast=args.fast)
        except SnnrefError as exc:
            sys.stderr.write(f"snnref: error: {exc}\n")
            return 2
        except RuntimeError as exc:
            sys.stderr.write(f"{exc}\n")
            status = 1
            continue
        sys.stdout.write(f"{md}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
