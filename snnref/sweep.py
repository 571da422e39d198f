"""Sweeps: a grid of settings x seeds, each trial an ordinary run directory, run on Dask.

A sweep is a base configuration (a preset or config file, see :mod:`snnref.config`), grid axes
``key = [v1, v2, ...]`` over any :class:`~snnref.config.TrainConfig` field, and a list of seeds.
Every combination (setting x seed) is one *trial*: ``base.replace(**setting, seed=seed)`` trained
by :func:`snnref.train.train` into its own run directory ``<out>/<setting>__seed-<s>``, exactly as
``snnref train --config <out>/<trial>/config.json`` would train it. Layout of a sweep directory::

    <out>/sweep.json           base config, axes, seeds, the list of trials (written before any run)
    <out>/<trial>/             config.json, metrics.json, last.h5, best.h5 (snnref train files)
    <out>/summary.{csv,json,md}

Execution (:func:`run_sweep`) hands the trials to a ``dask.distributed`` client: a
``LocalCluster`` of worker processes (:func:`open_client`) or an existing scheduler. Every trial
decides on the worker, from its run directory, whether it is done (skipped), interrupted (resumed
from ``last.h5``, which :func:`snnref.train.train` makes bit-identical to an uninterrupted run) or
new. A worker that dies mid-trial therefore loses nothing but the current epoch: the scheduler
resubmits the trial, which resumes from its last checkpoint. A trial's result depends only on its
configuration (samples are simulated independently, seeds fix every random draw, every trial
uses one BLAS thread), not on the worker, the numba thread count or what runs alongside it: it is
bit-identical to ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 snnref train --config <trial>/config.json``.
(OpenBLAS's results change in the last bits with its thread count, so a plain ``snnref train``
with several BLAS threads can differ from the trial in the last bits of the weights; likewise
between machines whose CPU types make OpenBLAS choose different kernels.)

Summaries (:func:`summarize`, :func:`write_summary`) group the trials by setting and report, over
seeds, mean, sample standard deviation (n - 1) and best of the test accuracy of the selected model
(the model ``snnref train`` selects: validation split, or the test set when there is none) and of
its spikes per sample (best = fewest), in the papers' format ``97.73 ± 0.09`` (ANTLR Table A2/A4;
TSSL-BP reports mean / stddev / best).

Requires the ``sweep`` extra (``pip install "snnref[sweep]"``) for running; summaries need only
snnref itself.
"""
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import socket
import sys
import threading
import time
import traceback

from .config import ConfigError, TrainConfig
from .cli import _fmt_time
from .errors import SnnrefError

__all__ = ["parse_seeds", "parse_axis", "Trial", "plan_sweep", "trial_state", "load_sweep", "save_sweep",
           "open_client", "check_workers", "close_client", "run_sweep", "run_trial", "summarize", "write_summary",
           "format_markdown", "SweepProgress", "SWEEP_FILE", "FAILURES_FILE", "EVENT_TOPIC", "DASK_HINT", "BLAS_ENV"]

SWEEP_FILE = "sweep.json"
#: topic of the progress events trials send from the workers (Worker.log_event)
EVENT_TOPIC = "snnref-sweep"
DASK_HINT = ('snnref sweep runs trials on dask.distributed, which is not installed. Install the extra: '
             'pip install "snnref[sweep]" (or pip install "dask[distributed]").')
_FORMAT = "snnref-sweep"
_VERSION = 1
#: config fields that may differ between a trial's saved run and the sweep (the run is then extended)
_EXTENDABLE = ("epochs",)
#: failed trials of the last run of the sweep: {dir: {"error", "traceback"}}
FAILURES_FILE = "failures.json"


# -------------------------------------------------------------------------------------- parsing
def parse_seeds(text):
    """Seeds from ``"0-15"``, ``"3"``, ``"0,2,5-7"`` (non-negative integers, no repeats), in order."""
    if not isinstance(text, str) or not text.strip():
        raise SnnrefError("--seeds needs a list of seeds such as 0-15, 3 or 0,2,5-7.")
    seeds = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise SnnrefError(f"--seeds {text!r}: {part!r} is not a seed or a range; write e.g. 0-15, 3 or 0,2,5-7 "
                              "(non-negative integers, ranges inclusive).")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise SnnrefError(f"--seeds {text!r}: range {part!r} is empty; write it as {hi}-{lo}.")
        for s in range(lo, hi + 1):
            if s in seeds:
                raise SnnrefError(f"--seeds {text!r}: seed {s} appears twice.")
            seeds.append(s)
    return seeds


def _split_top(text):
    """Split at commas outside brackets / braces / quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if quote or depth:
        raise ValueError("unbalanced brackets or quotes")
    parts.append("".join(cur))
    return parts


def _parse_value(text):
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text[:1] in "[{\"":
            raise ValueError(f"{text!r} is not valid JSON") from None
        return text                                      # a bare word: a string (rule=antlr)


def parse_axis(text):
    """``"key=v1,v2,..."`` -> ``(key, [v1, v2, ...])``.

    Values are JSON (numbers, true/false, null, lists such as ``[400,400]``, quoted strings);
    a bare word is a string (``rule=antlr,timing``). Commas inside brackets do not split.
    """
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise SnnrefError(f"--set {text!r}: write key=value or key=v1,v2,... (e.g. --set lr=1e-3,1e-4 "
                          "--set hidden=[400,400],[800]).")
    if key not in TrainConfig.field_names():
        raise SnnrefError(f"--set {text!r}: unknown config key {key!r}. Valid keys: "
                          f"{', '.join(TrainConfig.field_names())}.")
    if key == "seed":
        raise SnnrefError("--set seed=...: seeds are given with --seeds (e.g. --seeds 0-15).")
    try:
        raw = _split_top(rest)
        if any(v.strip() == "" for v in raw):
            raise ValueError("empty value")
        values = [_parse_value(v) for v in raw]
    except ValueError as exc:
        raise SnnrefError(f"--set {text!r}: {exc}; values are JSON (1e-3, true, null, [400,400], \"text\") "
                          "or bare words, separated by single commas.") from None
    return key, values


# ------------------------------------------------------------------------------------- planning
class Trial:
    """One grid point: ``setting`` (dict of axis values), ``seed``, validated ``cfg``, ``dirname``."""

    __slots__ = ("setting", "seed", "cfg", "dirname", "setting_id")

    def __init__(self, setting, seed, cfg, setting_id):
        self.setting = dict(setting)
        self.seed = int(seed)
        self.cfg = cfg
        self.setting_id = setting_id
        self.dirname = f"{setting_id}__seed-{self.seed}" if setting_id else f"seed-{self.seed}"

    @property
    def label(self):
        return setting_label(self.setting)

    def record(self):
        return {"dir": self.dirname, "setting_id": self.setting_id, "setting": self.setting, "seed": self.seed}

    def __repr__(self):
        return f"Trial({self.dirname!r})"


def setting_label(setting):
    """``"lr=0.001 hidden=[400, 400]"`` (``"base"`` for a sweep over seeds only)."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in setting.items()) or "base"


def _slug(value):
    s = re.sub(r"[^A-Za-z0-9.+]+", "-", json.dumps(value).strip('"')).strip("-")
    return s or "x"


def _setting_id(setting):
    sid = "__".join(f"{k}-{_slug(v)}" for k, v in setting.items())
    if len(sid) > 150:                                   # keep directory names short and unique
        digest = hashlib.sha1(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:10]
        sid = sid[:139] + "-" + digest
    return sid


def plan_sweep(base, axes=(), seeds=None):
    """All trials of the grid ``axes`` (list of ``(key, values)``) x ``seeds``, each config validated.

    Settings vary in the order of ``axes`` (the last fastest), seeds innermost. Every grid point is
    resolved as ``base.replace(**setting, seed=seed)`` (a changed rule or loss re-derives the default
    read-out ``selection`` as ``snnref train`` does) and validated here, before anything runs; an
    invalid point raises :class:`SnnrefError` naming it.
    """
    if not isinstance(base, TrainConfig):
        raise TypeError(f"base must be a snnref.config.TrainConfig; got {type(base).__name__}.")
    seeds = [base.seed] if seeds is None else list(seeds)
    if not seeds:
        raise SnnrefError("a sweep needs at least one seed.")
    keys = [k for k, _ in axes]
    for k in keys:
        if keys.count(k) > 1:
            raise SnnrefError(f"--set {k}=... is given twice; put all its values in one --set {k}=v1,v2,....")
    for key, values in axes:
        if not values:
            raise SnnrefError(f"--set {key}= has no values.")
    trials, names = [], {}
    for combo in itertools.product(*[vals for _, vals in axes]):
        raw = dict(zip(keys, combo))
        for seed in seeds:
            try:
                cfg = base.replace(**_with_selection(raw), seed=seed)
            except ConfigError as exc:
                raise SnnrefError(f"grid point {setting_label(raw)} seed {seed}: {exc}") from None
            setting = {k: getattr(cfg, k) for k in keys}          # normalised (1 -> 1.0 for a float key)
            t = Trial(setting, seed, cfg, _setting_id(setting))
            if t.dirname in names:
                if names[t.dirname] == setting:
                    raise SnnrefError(f"the grid holds {setting_label(setting)} twice (a value of --set appears "
                                      "twice); list each value once.")
                raise SnnrefError(f"settings {setting_label(names[t.dirname])} and {t.label} map to the same "
                                  f"trial directory {t.dirname!r}; make the values distinguishable.")
            names[t.dirname] = setting
            trials.append(t)
    return trials


def _with_selection(changes):
    changes = dict(changes)
    if ("rule" in changes or "loss" in changes) and "selection" not in changes:
        changes["selection"] = None
    return changes


# ------------------------------------------------------------------------------ sweep directory
def _atomic_write(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnnrefError(f"{what} {path!r} is damaged ({exc}); restore it or start the sweep in another --out.") \
            from None


def load_sweep(out):
    """The sweep record of ``out`` (``sweep.json``), checked; raises :class:`SnnrefError` if absent or damaged."""
    path = os.path.join(out, SWEEP_FILE)
    if not os.path.exists(path):
        raise SnnrefError(f"{out!r} is not a sweep directory ({SWEEP_FILE} is missing); pass the --out "
                          "directory of `snnref sweep`.")
    rec = _read_json(path, "sweep file")
    ok = (isinstance(rec, dict) and rec.get("format") == _FORMAT and isinstance(rec.get("base"), dict)
          and isinstance(rec.get("axes"), list) and isinstance(rec.get("trials"), list)
          and all(isinstance(t, dict) and isinstance(t.get("dir"), str) and isinstance(t.get("setting"), dict)
                  and isinstance(t.get("seed"), int) and isinstance(t.get("setting_id"), str)
                  and t["dir"] and os.sep not in t["dir"] and not t["dir"].startswith(".")
                  for t in rec["trials"]))
    if not ok:
        raise SnnrefError(f"sweep file {path!r} is damaged (not a {_FORMAT} record); restore it or start the "
                          "sweep in another --out.")
    if rec.get("version") != _VERSION:
        raise SnnrefError(f"sweep file {path!r} has version {rec.get('version')!r}; this snnref reads "
                          f"version {_VERSION}.")
    return rec


def save_sweep(out, base, axes, seeds, trials, write=True):
    """Write (or extend) ``out/sweep.json`` with ``trials``; returns the record.

    An existing sweep in ``out`` is extended (new values or seeds add trials) only if its base
    configuration (apart from ``epochs``) and its axis keys are the same; otherwise
    :class:`SnnrefError`. With ``write=False`` only checks and returns the record.
    """
    path = os.path.join(out, SWEEP_FILE)
    keys = [k for k, _ in axes]
    base_d = base.to_dict()
    rec = {"format": _FORMAT, "version": _VERSION, "base": base_d, "axes": [[k, list(v)] for k, v in axes],
           "seeds": list(seeds), "trials": []}
    if os.path.exists(path):
        old = load_sweep(out)
        old_keys = [k for k, _ in old["axes"]]
        diff = sorted(k for k in set(base_d) | set(old["base"])
                      if k not in _EXTENDABLE and base_d.get(k) != old["base"].get(k))
        if diff or old_keys != keys:
            what = f"base settings {diff}" if diff else f"axes {old_keys} (now {keys})"
            raise SnnrefError(f"{out!r} holds another sweep (different {what}); re-run it with its own "
                              "settings, or pass another --out.")
        rec["trials"] = list(old["trials"])
        merged = {k: list(v) for k, v in old["axes"]}
        for k, vals in axes:
            merged[k] += [v for v in vals if v not in merged[k]]
        rec["axes"] = [[k, merged[k]] for k in keys]
        rec["seeds"] = list(old.get("seeds", [])) + [s for s in seeds if s not in old.get("seeds", [])]
    known = {t["dir"] for t in rec["trials"]}
    rec["trials"] += [t.record() for t in trials if t.dirname not in known]
    if write:
        os.makedirs(out, exist_ok=True)
        _atomic_write(path, json.dumps(rec, indent=2) + "\n")
    return rec


# ---------------------------------------------------------------------------------- trial state
def _epochs_done(metrics):
    eps = metrics.get("epochs") if isinstance(metrics, dict) else None
    if not isinstance(eps, list) or not all(isinstance(e, dict) and e.get("epoch") == i + 1
                                            for i, e in enumerate(eps)):
        return None
    return len(eps)


def trial_state(trial_dir, cfg):
    """``("done" | "resume" | "new", epochs_done)`` of the run directory of a trial.

    done: ``metrics.json`` records all ``cfg.epochs`` epochs and ``last.h5`` exists; resume:
    ``last.h5`` exists (a completed epoch) but the run is short; new: no completed epoch. Raises
    :class:`SnnrefError` if the directory holds a run of another configuration or with more epochs.
    """
    cfg_path = os.path.join(trial_dir, "config.json")
    last = os.path.join(trial_dir, "last.h5")
    has_last = os.path.exists(last)
    if os.path.exists(cfg_path):
        try:
            with open(cfg_path, encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError):
            saved = None                                 # a damaged copy: train() checks last.h5's config
        if isinstance(saved, dict) and has_last:
            want = cfg.to_dict()
            diff = sorted(k for k in set(want) | set(saved) if k not in _EXTENDABLE and saved.get(k) != want.get(k))
            if diff:
                raise SnnrefError(f"trial directory {trial_dir!r} holds a run of another configuration "
                                  f"(differs in {diff[:6]}); remove it or use another --out.")
    if not has_last:
        return "new", 0
    done = None
    try:
        with open(os.path.join(trial_dir, "metrics.json"), encoding="utf-8") as f:
            done = _epochs_done(json.load(f))
    except (OSError, ValueError):
        pass
    if done is not None and done > cfg.epochs:
        raise SnnrefError(f"trial directory {trial_dir!r} already ran {done} epochs, more than the sweep's "
                          f"epochs={cfg.epochs}; use another --out.")
    if done == cfg.epochs:
        return "done", done
    return "resume", done or 0


def _set_threads(threads):
    if not threads:
        return
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _emit(event):
    try:
        from distributed import get_worker

        get_worker().log_event(EVENT_TOPIC, event)
    except Exception:                                    # not on a dask worker (direct call): no events
        pass


def run_trial(cfg_dict, trial_dir, threads=None):
    """Run one trial to completion in ``trial_dir`` (the function the workers execute).

    Skips a finished run, resumes an interrupted one from ``last.h5`` and otherwise starts fresh
    (clearing files of a run killed before its first checkpoint). ``threads`` caps numba's threads.
    Sends "start" / "epoch" / "end" progress events when running on a dask worker. Returns a dict with
    ``status`` ("done" | "ran"), ``resumed_from`` (epochs already done) and the wall time.
    """
    from .train import train

    cfg = TrainConfig.from_dict(cfg_dict, source=f"trial {os.path.basename(trial_dir)}")
    state, done = trial_state(trial_dir, cfg)
    info = {"dir": os.path.basename(trial_dir), "pid": os.getpid(), "host": socket.gethostname()}
    if state == "done":
        return dict(info, status="done", resumed_from=done, wall_time_s=0.0)
    if state == "new":
        for name in ("metrics.json", "best.h5"):       # a first epoch killed between its writes
            p = os.path.join(trial_dir, name)
            if os.path.exists(p):
                os.remove(p)
    _set_threads(threads)
    _emit(dict(info, event="start", epochs_done=done, epochs=cfg.epochs))

    def callback(event, data):
        if event == "epoch":
            _emit(dict(info, event="epoch", epoch=data["epoch"], epochs=cfg.epochs))

    t0 = time.perf_counter()
    try:
        train(cfg, trial_dir, resume=state == "resume", callback=callback)
    finally:
        _emit(dict(info, event="end"))
    return dict(info, status="ran", resumed_from=done, wall_time_s=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ execution
def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SnnrefError(DASK_HINT) from None
    return distributed


#: BLAS threads of every trial. OpenBLAS's results depend on its thread count (last-bit
#: differences in the weights), numba's do not; one BLAS thread per trial (as dask workers have by
#: default) makes a trial's result independent of --workers / --threads and of the cluster.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def open_client(workers=None, scheduler=None, threads=None):
    """A ``distributed.Client``: on ``scheduler`` (``tcp://host:port``) or on a new ``LocalCluster``.

    The local cluster has ``workers`` worker processes (default: the number of cores), one task
    thread each, ``threads`` numba threads per worker (default cores // workers, so that the
    workers together do not oversubscribe the cores) and one BLAS thread (:data:`BLAS_ENV`). Dask's
    memory limits are off (a trial holds its data set and network, nothing Dask could spill).
    Close the client and its cluster with :func:`close_client`. (In a script, create the local
    cluster under ``if __name__ == "__main__":``: its worker processes re-import the main module.)
    """
    distributed = _import_distributed()
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SnnrefError(f"cannot connect to the dask scheduler {scheduler!r} ({exc}). Start one with "
                              "`dask scheduler` and workers with `dask worker ADDRESS`, and pass its address "
                              "as --scheduler tcp://HOST:PORT.") from None
    cores = os.cpu_count() or 1
    workers = cores if workers is None else int(workers)
    if workers < 1:
        raise SnnrefError(f"--workers must be >= 1; got {workers}.")
    threads = max(1, cores // workers) if threads is None else int(threads)
    env = dict(BLAS_ENV, NUMBA_NUM_THREADS=str(threads))
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", memory_limit=0, env=env,
                                       silence_logs=50)       # logging.CRITICAL: trial errors are reported by run_sweep
    client = distributed.Client(cluster)
    client.snnref_threads = threads
    return client


def _worker_view(out):
    import snnref

    return {"version": snnref.__version__, "out": os.path.isdir(out) and os.access(out, os.W_OK)}


def check_workers(client, out):
    """Check that the connected workers run this snnref version and can write ``out`` (shared storage)."""
    from . import __version__

    out = os.path.abspath(out)
    try:
        views = client.run(_worker_view, out)
    except ImportError as exc:
        raise SnnrefError(f"a dask worker cannot import snnref ({exc}); install snnref {__version__} with "
                          "the 'sweep' extra on every worker machine.") from None
    for addr, v in views.items():
        if v["version"] != __version__:
            raise SnnrefError(f"dask worker {addr} runs snnref {v['version']}, this is {__version__}; install the "
                              "same version everywhere (results must not depend on where a trial runs).")
        if not v["out"]:
            raise SnnrefError(f"dask worker {addr} cannot write {out!r}; --out must be a directory on storage "
                              "that every worker shares (same path), e.g. a network file system.")


def close_client(client):
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


class SweepProgress:
    """One progress line over trials on ``stream`` (stderr): done / running / failed / to do, ETA.

    The ETA extrapolates the epochs completed so far in this invocation to the epochs still to run.
    On a terminal the line updates in place; otherwise a line is written whenever a count changes.
    """

    def __init__(self, total, skipped, epochs_todo, stream=None, live=None):
        self.stream = stream if stream is not None else sys.stderr
        self.live = (hasattr(self.stream, "isatty") and self.stream.isatty()) if live is None else live
        self.total, self.done, self.failed = total, skipped, 0
        self.running, self.ending = set(), set()        # ending: returned on the worker, result not yet here
        self.epochs_todo, self.epochs_run = epochs_todo, 0
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._last_text = None
        self._width = 0

    def line(self):
        el = time.monotonic() - self.t0
        left = self.epochs_todo - self.epochs_run
        eta = el / self.epochs_run * left if self.epochs_run else None
        todo = self.total - self.done - self.failed - len(self.running) - len(self.ending)
        return (f"sweep: {self.done}/{self.total} done, {len(self.running)} running, {self.failed} failed, "
                f"{todo} waiting  elapsed {_fmt_time(el)}  ETA {_fmt_time(0 if left <= 0 else eta)}")

    def render(self, force=False):
        with self._lock:
            text = self.line()
            key = text.split("  elapsed")[0]
            if self.live:
                pad = max(0, self._width - len(text))
                self.stream.write("\r" + text + " " * pad)
                self._width = len(text)
            elif force or key != self._last_text:
                self.stream.write(text + "\n")
            self._last_text = key
            self.stream.flush()

    def event(self, ev):
        with self._lock:
            if ev.get("event") == "start":
                self.running.add(ev.get("dir"))
            elif ev.get("event") == "epoch":
                self.epochs_run += 1
            elif ev.get("event") == "end" and ev.get("dir") in self.running:
                self.running.discard(ev.get("dir"))
                self.ending.add(ev.get("dir"))
        self.render()

    def finished(self, name, ok):
        with self._lock:
            self.running.discard(name)
            self.ending.discard(name)
            if ok:
                self.done += 1
            else:
                self.failed += 1
        self.render()

    def close(self):
        if self.live:
            self.render()
            self.stream.write("\n")
            self.stream.flush()


def run_sweep(out, trials, client, *, threads=None, progress=True, live=None, on_event=None, stream=None):
    """Run ``trials`` (from :func:`plan_sweep`, recorded in ``out`` by :func:`save_sweep`) on ``client``.

    Every trial directory is checked first (:func:`trial_state`: a run of another configuration is
    an error before anything is submitted); done trials are skipped, the others are submitted as
    :func:`run_trial` tasks. Failures (an exception in a trial, or its worker dying more often than
    ``distributed.scheduler.allowed-failures``) are collected in ``out/failures.json``, the other
    trials go on. Writes the summaries at the end. Returns ``{"skipped": [...], "ran": {dir: result},
    "failed": {dir: {"error", "traceback"}}, "summary": summary}``.

    ``on_event(event_dict)`` receives the progress events of the trials ("start" with the worker's
    ``pid`` and ``host``, "epoch"), e.g. for monitoring.
    """
    distributed = _import_distributed()
    out = os.path.abspath(out)
    states = {t.dirname: trial_state(os.path.join(out, t.dirname), t.cfg) for t in trials}
    todo = [t for t in trials if states[t.dirname][0] != "done"]
    skipped = [t.dirname for t in trials if states[t.dirname][0] == "done"]
    epochs_todo = sum(t.cfg.epochs - states[t.dirname][1] for t in todo)
    bar = SweepProgress(len(trials), len(skipped), epochs_todo, stream=stream, live=live) if progress else None
    threads = threads if threads is not None else getattr(client, "snnref_threads", None)

    def handler(event):
        ev = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else event
        if not isinstance(ev, dict):
            return
        if bar is not None:
            bar.event(ev)
        if on_event is not None:
            on_event(ev)

    client.subscribe_topic(EVENT_TOPIC, handler)
    result = {"skipped": skipped, "ran": {}, "failed": {}}
    try:
        if bar is not None:
            bar.render(force=True)
        futures = {}
        for t in todo:
            fut = client.submit(run_trial, t.cfg.to_dict(), os.path.join(out, t.dirname), threads,
                                key=f"snnref-trial-{t.dirname}-{os.urandom(4).hex()}", pure=False)
            futures[fut] = t.dirname
        for fut in distributed.as_completed(list(futures)):
            name = futures[fut]
            if fut.status == "finished":
                result["ran"][name] = fut.result()
                ok = True
            else:
                try:
                    exc = fut.exception()
                except BaseException as e:              # cancelled futures raise here
                    exc = e
                result["failed"][name] = _describe_failure(exc, fut)
                ok = False
            if bar is not None:
                bar.finished(name, ok)
    finally:
        try:
            client.unsubscribe_topic(EVENT_TOPIC)
        except Exception:
            pass
        if bar is not None:
            bar.close()
    _atomic_write(os.path.join(out, FAILURES_FILE), json.dumps(result["failed"], indent=2) + "\n")
    result["summary"] = write_summary(out)
    return result


def _describe_failure(exc, fut):
    name = type(exc).__name__
    if name == "KilledWorker":
        msg = ("KilledWorker: the workers running this trial died repeatedly (see "
               "distributed.scheduler.allowed-failures); its last checkpoint is kept, re-run the sweep to resume it")
    else:
        msg = f"{name}: {exc}"
    tb = ""
    try:
        tb = "".join(traceback.format_tb(fut.traceback())) if fut.traceback() is not None else ""
    except Exception:
        pass
    return {"error": msg, "traceback": tb}


# ------------------------------------------------------------------------------------ summaries
def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _trial_values(trial_dir, epochs):
    """Per-trial numbers from ``metrics.json``; None if the run is not complete (or unreadable)."""
    path = os.path.join(trial_dir, "metrics.json")
    if not os.path.exists(path) or not os.path.exists(os.path.join(trial_dir, "last.h5")):
        return None, "not run yet"
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as exc:
        return None, f"metrics.json unreadable ({exc}); re-run the sweep to redo it"
    done = _epochs_done(m)
    summ = m.get("summary") if isinstance(m, dict) else None
    if done is None or not isinstance(summ, dict) or not isinstance(summ.get("best"), dict):
        return None, "metrics.json damaged; re-run the sweep to redo it"
    if epochs is not None and done < epochs:
        return None, f"interrupted after {done} of {epochs} epochs (re-run the sweep to resume)"
    best = summ["best"]
    return {
        "epochs": done,
        "selected_epoch": summ.get("best_epoch"),
        "selected_on": summ.get("selected_on"),
        "selection": summ.get("selection"),
        "test_accuracy": _num(best.get("test_accuracy")),
        "validation_accuracy": _num(best.get(f"validation_accuracy_{summ.get('selection')}")),
        "final_test_accuracy": _num(summ.get("final_test_accuracy")),
        "spikes_per_sample": _num(best.get("spikes_per_sample")),
        "necessary_spikes_per_sample": _num(best.get("necessary_spikes_per_sample")),
        "test_loss": _num(best.get("test_loss")),
    }, None


def _stats(values, best):
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "mean": None, "std": None, "best": None}
    n = len(vals)
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return {"n": n, "mean": mean, "std": std, "best": best(vals)}


#: summarised metrics and what "best" means for each
_METRICS = (("test_accuracy", max), ("validation_accuracy", max), ("final_test_accuracy", max),
            ("spikes_per_sample", min), ("necessary_spikes_per_sample", min), ("test_loss", min))


def _failures(out):
    path = os.path.join(out, FAILURES_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("error"), str)}


def summarize(out):
    """Per-setting statistics over seeds of the sweep in ``out`` (a dict, also ``summary.json``).

    For each setting (in grid order): the trials and seeds, and for each metric of the selected
    model (``metrics.json`` summary "best": test_accuracy, validation_accuracy (of the selection
    read-out; None without a validation split), spikes_per_sample, necessary_spikes_per_sample,
    test_loss; and final_test_accuracy) ``n``, ``mean``, ``std``
    (sample standard deviation, n - 1; None for one value) and ``best`` (highest accuracy, fewest
    spikes, lowest loss). Incomplete trials are listed (with the error of those that failed in the
    last run, from ``failures.json``) and left out of the statistics.
    """
    rec = load_sweep(out)
    failures = _failures(out)
    epochs = rec["base"].get("epochs")
    groups = {}
    for t in rec["trials"]:
        groups.setdefault(t["setting_id"], {"setting": t["setting"], "trials": []})["trials"].append(t)
    rows = []
    for sid, g in groups.items():
        trials, incomplete = [], []
        for t in g["trials"]:
            vals, why = _trial_values(os.path.join(out, t["dir"]), t["setting"].get("epochs", epochs))
            if vals is None:
                err = failures.get(t["dir"], {}).get("error")
                incomplete.append({"dir": t["dir"], "seed": t["seed"], "reason": f"failed: {err}" if err else why})
            else:
                trials.append(dict(vals, dir=t["dir"], seed=t["seed"]))
        row = {"setting_id": sid, "setting": g["setting"], "label": setting_label(g["setting"]),
               "trials": len(g["trials"]), "complete": len(trials), "seeds": [t["seed"] for t in trials],
               "incomplete": incomplete, "per_trial": trials}
        for key, best in _METRICS:
            row[key] = _stats([t[key] for t in trials], best)
        sel = {(t["selection"], t["selected_on"]) for t in trials}
        row["selection"] = [list(s) for s in sorted(sel, key=str)]
        rows.append(row)
    return {"format": "snnref-sweep-summary", "sweep": os.path.abspath(out), "base_name": rec["base"].get("name"),
            "axes": rec["axes"], "std": "sample standard deviation (n - 1) over seeds",
            "settings": rows}


def _pm(stat, scale, digits):
    if stat["mean"] is None:
        return "n/a"
    m = f"{stat['mean'] * scale:.{digits}f}"
    return m if stat["std"] is None else f"{m} ± {stat['std'] * scale:.{digits}f}"


def _one(v, scale, digits):
    return "n/a" if v is None else f"{v * scale:.{digits}f}"


def format_markdown(summary):
    """The summary as a Markdown table in the papers' format (accuracy % mean ± std, best; spikes/sample)."""
    rows = summary["settings"]
    spikes = [r["spikes_per_sample"]["mean"] for r in rows if r["spikes_per_sample"]["mean"] is not None]
    sd = 0 if spikes and min(spikes) >= 100 else 1
    has_acc = any(r["test_accuracy"]["n"] for r in rows)
    lines = [f"Sweep of `{summary['base_name']}`: mean ± std (sample standard deviation, n - 1) over seeds "
             "of the selected model (best epoch by the read-out matching the loss, on the validation split "
             "or, without one, the test set).", ""]
    has_val = any(r["validation_accuracy"]["n"] for r in rows)
    if has_acc:
        lines += ["| setting | seeds | " + ("validation accuracy [%] | " if has_val else "")
                  + "test accuracy [%] | best [%] | spikes/sample | fewest | necessary spikes/sample |",
                  "|---|---|" + ("---|" if has_val else "") + "---|---|---|---|---|"]
        for r in rows:
            val = f"{_pm(r['validation_accuracy'], 100, 2)} | " if has_val else ""
            lines.append(f"| {r['label']} | {r['complete']}/{r['trials']} | {val}{_pm(r['test_accuracy'], 100, 2)} | "
                         f"{_one(r['test_accuracy']['best'], 100, 2)} | {_pm(r['spikes_per_sample'], 1, sd)} | "
                         f"{_one(r['spikes_per_sample']['best'], 1, sd)} | "
                         f"{_pm(r['necessary_spikes_per_sample'], 1, sd)} |")
    else:
        lines += ["| setting | seeds | test loss | lowest | spikes/sample | fewest |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['label']} | {r['complete']}/{r['trials']} | {_pm(r['test_loss'], 1, 4)} | "
                         f"{_one(r['test_loss']['best'], 1, 4)} | {_pm(r['spikes_per_sample'], 1, sd)} | "
                         f"{_one(r['spikes_per_sample']['best'], 1, sd)} |")
    missing = [(r["label"], i) for r in rows for i in r["incomplete"]]
    if missing:
        lines += ["", "Trials left out:", ""]
        lines += [f"- {label} seed {i['seed']} (`{i['dir']}`): {i['reason']}" for label, i in missing]
    return "\n".join(lines) + "\n"


def write_summary(out):
    """Write ``summary.json``, ``summary.csv`` (one row per setting) and ``summary.md``; returns the summary."""
    summary = summarize(out)
    keys = [k for k, _ in summary["axes"]]
    head = keys + ["seeds", "trials"] + [f"{m}_{s}" for m, _ in _METRICS for s in ("mean", "std", "best")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in summary["settings"]:
        cells = [json.dumps(r["setting"].get(k)).strip('"') for k in keys] + [r["complete"], r["trials"]]
        cells += [r[m][s] for m, _ in _METRICS for s in ("mean", "std", "best")]
        w.writerow(["" if c is None else repr(c) if isinstance(c, float) else c for c in cells])
    _atomic_write(os.path.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    _atomic_write(os.path.join(out, "summary.csv"), buf.getvalue())
    _atomic_write(os.path.join(out, "summary.md"), format_markdown(summary))
    return summary
