"""Command-line interface: ``snnref`` (console script) and ``python -m snnref``.

Sub-commands::

    snnref [--debug] train [--preset NAME | --config FILE] [--epochs N] [--train-limit N] [--test-limit N]
                 [--validation-limit N] [--seed S] [--out DIR] [--rule R] [--dtype float64|float32]
                 [--data-dir DIR] [--resume] [--quiet]
    snnref [--debug] eval --run DIR [--checkpoint best|last] [--test-limit N] [--data-dir DIR] [--quiet]
    snnref presets

``snnref train`` without arguments runs the "quickstart" preset (the main job). Configuration
resolution: preset (default "quickstart") or config file < command-line flags; the resolved
config is saved as ``<out>/config.json``. With ``--resume --out DIR`` the saved config of DIR is
the base and only ``--epochs`` may change it.

Progress goes to stderr: a single updating line (ETA, samples/s, running loss and accuracy) when
stderr is a terminal, else (or with ``--quiet``) one line per epoch. Results go to stdout.

Errors: every user error (configuration, data files, limits, paths, permissions, memory, damaged
checkpoints, a closed output pipe) ends in exactly one ``snnref: error: <what to do>`` line on stderr
and exit status 2; ``--debug`` (or ``SNNREF_DEBUG=1``) shows the traceback instead. Anything else
is a bug and keeps its traceback.
"""
import argparse
import os
import sys
import time

from . import __version__
from .commands import COMMANDS
from .errors import SnnrefError
from .training.config import RULES, list_presets, load_preset, resolve_config

__all__ = ["main", "build_parser"]

DEFAULT_PRESET = "quickstart"


# ------------------------------------------------------------------------------------ progress
def _fmt_time(s):
    if s is None or s != s or s == float("inf"):
        return "--:--"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _pct(v):
    return "  n/a " if v is None else f"{100 * v:5.1f}%"


class Progress:
    """Renders :func:`snnref.train.train` callback events on a stream (stderr)."""

    def __init__(self, stream=None, live=None, min_interval=0.2):
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.live = live
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0
        self.selection = None
        self.config = None
        self.run_dir = None

    def _line(self, text, final=False):
        if self.live:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self._width = 0 if final else len(text)
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event, info):
        if event == "start":
            cfg = info["config"]
            self.config = cfg
            self.run_dir = info["run_dir"]
            self.selection = cfg.get("selection")
            if info["start_epoch"] >= info["epochs"]:
                self._line(f"nothing to do: the run in {info['run_dir']} has completed its {info['epochs']} epochs "
                           "(pass a larger --epochs to train further)", final=True)
                return
            self._line(f"snnref {__version__}: run {cfg['name']!r} -> {info['run_dir']}  network {info['sizes']}  "
                       f"rule {cfg['rule']}  loss {cfg['loss']}  train {info['train_samples']}  "
                       f"validation {info['validation_samples']}  test {info['test_samples']}  "
                       f"epochs {info['start_epoch'] + 1}..{info['epochs']}", final=True)
        elif event == "batch" and self.live:
            now = time.monotonic()
            if now - self._last < self.min_interval and info["done"] < info["total"]:
                return
            self._last = now
            el = info["elapsed_s"]
            rate = info["done"] / el if el > 0 else 0.0
            eta = (info["total"] - info["done"]) / rate if rate > 0 else None
            acc = "" if info["accuracy"] is None else f"  acc({self.selection}) {_pct(info['accuracy'])}"
            self._line(f"epoch {info['epoch']}/{info['epochs']}  {info['done']}/{info['total']}  "
                       f"{rate:6.1f} samples/s  ETA {_fmt_time(eta)}  loss {info['loss']:.4f}{acc}")
        elif event == "evaluate" and self.live:
            now = time.monotonic()
            if now - self._last < self.min_interval and info["done"] < info["total"]:
                return
            self._last = now
            self._line(f"  evaluating {info['phase']}: {info['done']}/{info['total']}")
        elif event == "epoch":
            e = info
            parts = [f"epoch {e['epoch']}", f"train loss {e['train_loss']:.4f}"]
            if e.get("test_accuracy") is not None:
                if "validation_accuracy_" + str(self.selection) in e:
                    parts.append(f"validation {_pct(e['validation_accuracy_' + self.selection]).strip()}")
                accs = "  ".join(f"{k[len('test_accuracy_'):]} {_pct(v).strip()}" for k, v in e.items()
                                 if k.startswith("test_accuracy_"))
                parts.append(f"test {accs}")
            else:
                parts.append(f"test loss {e['test_loss']:.4f}")
            parts.append(f"spikes/sample {e['spikes_per_sample']:.1f}")
            parts.append(f"{e['samples_per_s']:.1f} samples/s")
            parts.append(f"{_fmt_time(e['wall_time_s'])}")
            self._line("  ".join(parts), final=True)


def _quiet(event, info):
    return None


# --------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``snnref: error:`` line (exit 2)."""

    def error(self, message):
        self.exit(2, f"snnref: error: {message} (see `{self.prog} --help`)\n")


def _debug_flag(parser, top=False):
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show the Python traceback of an error (also SNNREF_DEBUG=1)")


def build_parser():
    p = _Parser(prog="snnref", description="Numba CPU reference implementation of the ANTLR and "
                "TSSL-BP learning rules for spiking neural networks (spec: docs/ALGORITHMS.md).")
    p.add_argument("--version", action="version", version=f"snnref {__version__}")
    _debug_flag(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a network (default: the 'quickstart' preset)",
                       description="Train a network. Without arguments: the 'quickstart' main job.")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None, help=f"preset name (see `snnref presets`; default {DEFAULT_PRESET})")
    src.add_argument("--config", default=None, metavar="FILE", help="JSON config file (keys = TrainConfig fields)")
    t.add_argument("--epochs", type=int, default=None, help="number of epochs")
    t.add_argument("--train-limit", type=int, default=None, metavar="N", help="use the first N training samples")
    t.add_argument("--test-limit", type=int, default=None, metavar="N", help="use the first N test samples")
    t.add_argument("--validation-limit", type=int, default=None, metavar="N",
                   help="evaluate only the first N validation samples each epoch (presets with a validation split)")
    t.add_argument("--seed", type=int, default=None, help="random seed (init, split, shuffling)")
    t.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (new or empty; default: a new runs/<name>-<timestamp>)")
    t.add_argument("--rule", default=None, choices=RULES, help="learning rule (overrides the preset)")
    t.add_argument("--dtype", default=None, choices=("float64", "float32"), help="compute precision")
    t.add_argument("--data-dir", default=None, metavar="DIR",
                   help="data directory holding mnist/ (default: $SNNREF_DATA_DIR, else the copy shipped with snnref)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last completed epoch")
    t.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch)")
    _debug_flag(t)

    e = sub.add_parser("eval", help="evaluate a saved run on the test set")
    e.add_argument("--run", required=True, metavar="DIR", help="run directory written by `snnref train`")
    e.add_argument("--checkpoint", default="best", choices=("best", "last"))
    e.add_argument("--test-limit", type=int, default=None, metavar="N")
    e.add_argument("--data-dir", default=None, metavar="DIR", help="data directory (default: the run's)")
    e.add_argument("--quiet", action="store_true")
    _debug_flag(e)

    pr = sub.add_parser("presets", help="list the shipped presets")
    _debug_flag(pr)
    for module in _command_modules():
        module.add_parser(sub)
    return p


def _command_modules():
    import importlib

    return [importlib.import_module(f"{__package__}.commands.{name}") for name in COMMANDS]


_READOUT_TEXT = {
    "first": "first = class of the earliest output spike",
    "count": "count = class with the most output spikes",
    "psp": "psp = class with the largest summed output PSP",
}


def _readout_notes(cfg):
    """Lines that say what each read-out means for this run and which one the loss trains."""
    if not cfg:
        return []
    trained = {"latency": "first", "count": "count", "psp_kernel": "psp", "psp_count": "psp",
               "psp_softmax": "psp"}.get(cfg.get("loss"))
    lines = []
    reads = [cfg.get("selection")] + [r for r in ("first", "count", "psp") if r != cfg.get("selection")]
    for r in reads:
        if r == "psp" and cfg.get("rule") != "tsslbp" or r == "first" and cfg.get("rule") == "tsslbp":
            continue
        note = _READOUT_TEXT[r]
        if r == trained:
            note += f" (trained by the {cfg['loss']} loss)"
        elif r == "count" and cfg.get("loss") == "latency":
            note += (" (not trained: the latency loss shapes only each output neuron's first spike, and "
                     "spontaneously firing output neurons make the counts uninformative, so near chance = 10% is "
                     "expected)")
        lines.append("  " + note)
    return lines


def _print_result(metrics, run_dir, cfg=None):
    summ = metrics.get("summary", {})
    last = metrics["epochs"][-1] if metrics.get("epochs") else None
    out = sys.stdout
    if last is None:
        out.write(f"no epoch to run (the run in {run_dir} is complete)\n")
        return
    if last.get("test_accuracy") is not None:
        accs = ", ".join(f"{k[len('test_accuracy_'):]} {100 * v:.2f}%" for k, v in last.items()
                         if k.startswith("test_accuracy_"))
        out.write(f"final test accuracy (epoch {last['epoch']}, {metrics.get('test_samples')} test samples): {accs}\n")
        notes = _readout_notes(cfg)
        if notes:
            out.write("read-outs:\n" + "\n".join(notes) + "\n")
        best = summ.get("best", {})
        n_epochs = len(metrics["epochs"])
        on = summ.get("selected_on")
        out.write(f"best model (best.h5): epoch {summ.get('best_epoch')} of {n_epochs}, the epoch with the highest "
                  f"{on} accuracy of the {summ.get('selection')} read-out; its test accuracy "
                  f"{100 * best.get('test_accuracy', float('nan')):.2f}%")
        if summ.get("best_test_accuracy_over_epochs") is not None and n_epochs > 1:
            out.write(f"; best test accuracy over epochs {100 * summ['best_test_accuracy_over_epochs']:.2f}%")
        out.write("\n")
        if n_epochs == 1:
            out.write("  (a single epoch: the best model is the final model)\n")
        elif on == "test":
            out.write("  (no validation split: selected on the test set as the official code does, so the best "
                      "model's test accuracy is optimistic)\n")
    else:
        out.write(f"final test loss: {last['test_loss']:.6f}\n")
    out.write(f"spikes/sample: {last['spikes_per_sample']:.1f} total, {last['necessary_spikes_per_sample']:.1f} "
              f"necessary (up to the first output spike)\n")
    out.write(f"run directory: {run_dir} (config.json, metrics.json, last.h5, best.h5)\n")


def _cmd_train(args):
    from .training import train

    overrides = {"epochs": args.epochs, "train_limit": args.train_limit, "test_limit": args.test_limit,
                 "validation_limit": args.validation_limit, "seed": args.seed, "rule": args.rule,
                 "dtype": args.dtype, "data_dir": args.data_dir}
    if args.resume:
        if args.out is None:
            raise SnnrefError("--resume needs --out DIR (the run directory to continue).")
        if args.preset or args.config:
            raise SnnrefError("--resume takes the configuration from DIR/config.json; do not pass --preset/--config.")
        cfg_path = os.path.join(args.out, "config.json")
        if not os.path.isfile(cfg_path):
            raise SnnrefError(f"cannot resume: {cfg_path} does not exist. Is {args.out!r} a run directory of "
                              "`snnref train`?")
        cfg = resolve_config(config_file=cfg_path, overrides=overrides)
    else:
        preset = args.preset if (args.preset or args.config) else DEFAULT_PRESET
        cfg = resolve_config(preset=preset if not args.config else None, config_file=args.config, overrides=overrides)
    progress = Progress(live=False if args.quiet else None)
    metrics = train(cfg, args.out, resume=args.resume, callback=progress)
    _print_result(metrics, progress.run_dir or args.out, progress.config)
    return 0


def _cmd_eval(args):
    from .training import evaluate_run

    progress = Progress(live=False if args.quiet else None)
    res = evaluate_run(args.run, checkpoint=args.checkpoint, test_limit=args.test_limit, callback=progress,
                       data_dir=args.data_dir)
    if progress.live:
        progress._line("", final=True)
    lines = [f"{args.checkpoint} checkpoint of {args.run} (epoch {res['epoch']}), {res['samples']} test samples"]
    accs = [f"{k[len('accuracy_'):]} {100 * v:.2f}%" for k, v in res.items() if k.startswith("accuracy_")]
    if accs:
        lines.append("test accuracy: " + ", ".join(accs))
    lines.append(f"test loss: {res['loss']:.6f}")
    lines.append(f"spikes/sample: {res['spikes_per_sample']:.1f} total, "
                 f"{res['necessary_spikes_per_sample']:.1f} necessary")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _cmd_presets(args):
    for name in list_presets():
        cfg = load_preset(name)
        sizes = "-".join(str(s) for s in ["in"] + ([cfg.architecture] if cfg.architecture else cfg.hidden) + ["out"])
        enc = cfg.encoding if cfg.dataset in ("mnist", "fashion_mnist") else "-"
        sys.stdout.write(f"{name:26s} {cfg.rule:8s} {cfg.loss:12s} {cfg.dataset}/{enc}"
                         f"  {sizes}  T={cfg.T}  epochs={cfg.epochs}\n")
    return 0


def _err(msg):
    sys.stderr.write(f"snnref: error: {msg}\n")
    return 2


def _os_message(exc):
    what = exc.strerror or type(exc).__name__
    where = f" {exc.filename!r}" if exc.filename else ""
    if isinstance(exc, PermissionError):
        return f"permission denied:{where}. Choose a location you can write to (e.g. --out DIR)."
    if isinstance(exc, FileNotFoundError) and not exc.strerror:
        return str(exc)
    if exc.strerror is None:
        return str(exc)
    return f"{what}:{where}. Check the path, free disk space and permissions."


def _run(args, parser):
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "train":
        return _cmd_train(args)
    if args.command == "eval":
        return _cmd_eval(args)
    if args.command == "presets":
        return _cmd_presets(args)
    for module in _command_modules():
        if module.NAME == args.command:
            return module.run(args)
    raise AssertionError(f"unhandled command {args.command!r}")


def main(argv=None):
    """Entry point; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("SNNREF_DEBUG", "") not in ("", "0")
    try:
        code = _run(args, parser)
        sys.stdout.flush()                  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; continue with `snnref train --resume --out <run dir>`\n")
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`snnref presets | head`): silence the final flush of stdout
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        if debug:
            raise
        return _err("the output pipe was closed before all output was written (e.g. by `head`); the output is "
                    "truncated, nothing else went wrong.")
    except SnnrefError as exc:
        if debug:
            raise
        return _err(str(exc))
    except MemoryError as exc:
        if debug:
            raise
        return _err(f"out of memory{': ' + str(exc) if str(exc) else ''}. Reduce hidden, T, batch_size or "
                    "test_batch_size, or the train/test limits.")
    except OSError as exc:
        if debug:
            raise
        return _err(_os_message(exc))
