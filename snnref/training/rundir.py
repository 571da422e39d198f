"""Run directories: unique creation, one writer at a time, clean-up, resume checks, metrics.json.

A run directory holds ``config.json``, ``metrics.json``, ``last.h5`` and ``best.h5`` (see
:func:`snnref.training.loop.train`) and a hidden, empty lock file ``.snnref.lock``.

- A new run directory is created with ``os.mkdir`` (atomic: concurrent starts never share one).
  Without an explicit directory the name is ``runs/<name>-<YYYYmmdd-HHMMSS>`` with ``-2``, ``-3``, ...
  appended when taken. An explicit directory may exist if it holds no run.
- While a run writes to its directory it holds an exclusive ``flock`` on the lock file (released
  by the operating system if the process dies); a second trainer on the same directory stops with
  :class:`RunError`.
- Temporary files of a save that was killed (``.last.h5.<random>.tmp``, ...) are removed when the
  directory is next opened for writing.
- A start that fails before the first epoch is saved removes what it created (files, and the
  directory if it made it).
"""
import datetime
import json
import os

from ..errors import SnnrefError
from . import checkpoint as ckpt

__all__ = ["RunError", "RunDir", "RUN_FILES", "LOCK_NAME", "read_metrics", "config_differences",
           "RESUMABLE_CHANGES", "DEFAULT_ROOT"]

#: files of a run (anything else except the lock file is left alone)
RUN_FILES = ("config.json", "metrics.json", "last.h5", "best.h5")
LOCK_NAME = ".snnref.lock"
DEFAULT_ROOT = "runs"
#: config fields that may differ between a run's saved config and the one used to resume / evaluate it
RESUMABLE_CHANGES = ("epochs", "data_dir")

try:
    import fcntl
except ImportError:                      # Windows: no advisory locks (documented limitation)
    fcntl = None


class RunError(SnnrefError, RuntimeError):
    """A run directory cannot be used (missing files, in use, config mismatch, nothing to resume)."""


def _os_problem(path, exc, what):
    reason = exc.strerror or type(exc).__name__
    return RunError(f"cannot {what} {path!r}: {reason}. Choose a writable directory with --out DIR "
                    "(or run from a directory where runs/ can be created).")


def _make_dir(path):
    """``os.mkdir(path)`` after creating its parents; True if created, False if it already was a directory."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunError(f"cannot create run directory {path!r}: a part of its path is a file. Pass a directory "
                       "path to --out.") from None
    except OSError as exc:
        raise _os_problem(path, exc, "create run directory") from exc
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        if os.path.isdir(path):
            return False
        raise RunError(f"run directory {path!r} exists and is not a directory; pass a directory path "
                       "(new or empty) to --out.") from None
    except NotADirectoryError:
        raise RunError(f"cannot create run directory {path!r}: a part of its path is a file. Pass a directory "
                       "path to --out.") from None
    except OSError as exc:
        raise _os_problem(path, exc, "create run directory") from exc


def _unique_dir(root, name):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{name}-{stamp}")
    for k in range(1, 10000):
        path = base if k == 1 else f"{base}-{k}"
        if _make_dir(path):
            return path
    raise RunError(f"could not find a free run directory name next to {base!r}; clean up {root!r}.")


class RunDir:
    """A run directory opened for writing (holds the lock; see the module docstring).

    Use :meth:`create` for a new run and :meth:`open_existing` to resume one, as context managers:
    leaving the ``with`` block releases the lock; leaving a new run by an exception before
    :meth:`mark_saved` removes what it created.
    """

    def __init__(self, path, created, is_new):
        self.path = path
        self.created = created
        self.is_new = is_new
        self.saved = False
        self._lock_fd = None
        self._made_lock = False
        self._written = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, run_dir=None, name="run", root=DEFAULT_ROOT):
        """Claim a new run directory: ``run_dir`` (created if missing, must hold no run) or a unique
        ``<root>/<name>-<timestamp>``."""
        if run_dir is None:
            path, created = _unique_dir(root, name), True
        else:
            path = os.fspath(run_dir)
            created = _make_dir(path)
        run = cls(path, created, is_new=True)
        try:
            run._lock()
            present = [f for f in RUN_FILES if os.path.exists(os.path.join(path, f))]
            if present:
                raise RunError(f"run directory {path!r} already holds a run ({', '.join(present)}); use --resume "
                               "to continue it or choose another --out.")
            run.remove_stale_temporaries()
        except BaseException:
            run._abandon()
            raise
        return run

    @classmethod
    def open_existing(cls, run_dir):
        """Open the run in ``run_dir`` for resuming (it must hold ``last.h5``)."""
        path = os.fspath(run_dir)
        if not os.path.isdir(path):
            raise RunError(f"cannot resume: {path!r} is not a directory. Pass the --out directory of an earlier "
                           "`snnref train`.")
        run = cls(path, created=False, is_new=False)
        run._lock()
        try:
            run.remove_stale_temporaries()
            if not os.path.exists(run.file("last.h5")):
                raise RunError(f"cannot resume: {run.file('last.h5')!r} does not exist (no completed epoch in "
                               f"{path!r}). Start the run again without --resume.")
        except BaseException:
            run.release()
            raise
        return run

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.is_new and not self.saved:
            self._abandon()
        else:
            self.release()
        return False

    # ------------------------------------------------------------------ files
    def file(self, name):
        return os.path.join(self.path, name)

    def write_json(self, name, obj):
        ckpt.atomic_write_json(self.file(name), obj)
        self._written.append(name)

    def save_checkpoint(self, name, **state):
        ckpt.save_checkpoint(self.file(name), **state)
        self._written.append(name)

    def mark_saved(self):
        """The first epoch is on disk: from now on the run is kept whatever happens."""
        self.saved = True

    def remove_stale_temporaries(self):
        """Delete ``.<run file>.*.tmp`` left by a killed save (only while holding the lock)."""
        removed = []
        for entry in os.listdir(self.path):
            if entry.endswith(".tmp") and any(entry.startswith(f".{f}.") for f in RUN_FILES):
                try:
                    os.unlink(os.path.join(self.path, entry))
                    removed.append(entry)
                except FileNotFoundError:
                    pass
        return removed

    # ------------------------------------------------------------------ lock
    def _lock(self):
        lock_path = self.file(LOCK_NAME)
        try:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                self._made_lock = True
            except FileExistsError:
                fd = os.open(lock_path, os.O_RDWR)
        except OSError as exc:
            raise _os_problem(self.path, exc, "write to run directory") from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunError(f"run directory {self.path!r} is in use by another snnref process; wait for it to "
                               "finish or choose another --out.") from None
        self._lock_fd = fd
        if not os.access(self.path, os.W_OK):
            raise RunError(f"run directory {self.path!r} is not writable; choose another --out.")

    def release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)          # closing releases the flock
            self._lock_fd = None

    def _abandon(self):
        """Remove what this start created (nothing of a run that existed before)."""
        mine = self._written + ([LOCK_NAME] if self._made_lock and self._lock_fd is not None else [])
        for name in mine:
            try:
                os.unlink(self.file(name))
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            self.remove_stale_temporaries()
        self.release()
        if self.created:
            try:
                os.rmdir(self.path)
            except OSError:
                pass                         # not empty: someone else put files there


def config_differences(saved, cfg):
    """Field names whose value in the saved config dict differs from ``cfg`` (ignoring RESUMABLE_CHANGES)."""
    now = cfg.to_dict()
    if not isinstance(saved, dict):
        return sorted(now)
    keys = set(saved) | set(now)
    return sorted(k for k in keys if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))


def describe_differences(saved, cfg, diffs):
    now = cfg.to_dict()
    return ", ".join(f"{k}: saved {saved.get(k)!r} vs {now.get(k)!r}" for k in diffs[:6])


def read_metrics(run_dir):
    """The metrics.json of a run directory (dict with "epochs" and "summary")."""
    path = os.path.join(run_dir, "metrics.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path!r} does not exist; {run_dir!r} is not a run directory with a completed epoch.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path!r} is damaged ({exc}); the checkpoints last.h5 / best.h5 hold a verified copy of "
                       "the metrics (resume the run to rewrite it).") from None
