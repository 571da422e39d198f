r"""Durable training checkpoints (HDF5) and atomic JSON/text files.

Every file is written **atomically**: to a temporary file in the destination's directory, which is
flushed and ``fsync``-ed, then renamed over the destination with ``os.replace`` (atomic on POSIX and
Windows), and finally the directory itself is ``fsync``-ed (POSIX). A crash or an exception during
the write therefore leaves either the previous file or the complete new one at ``path``, never a
half-written file; on an exception the temporary file is removed. (A hard kill can leave a stray
``.<name>.*.tmp`` file next to the destination; it is never read and can be deleted.)

Integrity: the first 512 bytes of a checkpoint are an HDF5 *user block* (ignored by HDF5) holding
one ASCII text line, zero-padded::

    snnref-checkpoint 2 sha256=<64 hex digits> size=<bytes after the user block>\n

where the SHA-256 covers every byte after the user block. :func:`load_checkpoint` reads the whole
file into memory, checks the user block byte for byte, the size and the digest, and only then lets
libhdf5 parse the verified bytes (from memory, so what was checked is what is parsed). A flipped
bit anywhere, a truncated or extended file, or an HDF5 file edited by another program therefore
gives :class:`CheckpointError` before libhdf5 sees a damaged byte. The digest is written into the
temporary file before its single ``os.replace``, so file and digest can never get out of step.

Checkpoint layout (format version 2)::

    [user block, 512 bytes]  integrity line (above)
    /                       attrs: format = "snnref-checkpoint", format_version = 2, epoch,
                                   rng_state (JSON), snnref/numpy/numba/h5py/python versions, created
    /weights                list node: datasets "0", "1", ... (dtype kept)
    /biases                 list node (or JSON null)
    /optimizer_state        tree node (nested dicts / lists / tuples of arrays and numbers)
    /extra                  tree node
    /config, /metrics       scalar string datasets holding JSON (no attribute size limit)

A tree node is a group (attr ``__kind__`` = dict, list or tuple; dict order kept), an array dataset
(``__kind__`` = ndarray), a 0-d dataset for numpy scalars (npscalar), or a string dataset holding the
JSON of a Python scalar / None (json). JSON values keep big integers and floats exactly (``repr``);
numpy arrays inside JSON are tagged ``{"__ndarray__": [...], "dtype": ...}`` and restored.
"""
import datetime
import hashlib
import io
import json
import os
import platform
import re
import tempfile

import numpy as np

from ..errors import SnnrefError

__all__ = ["save_checkpoint", "load_checkpoint", "verified_bytes", "atomic_write_json", "atomic_write_text",
           "CheckpointError", "generator_from_state", "FORMAT", "FORMAT_VERSION", "USERBLOCK_SIZE"]

FORMAT = "snnref-checkpoint"
FORMAT_VERSION = 2
USERBLOCK_SIZE = 512
_HEADER = re.compile(rb"snnref-checkpoint (\d+) sha256=([0-9a-f]{64}) size=(\d+)\n")
_KIND = "__kind__"
_REQUIRED = ("weights", "biases", "optimizer_state", "extra", "config", "metrics")
_REQUIRED_ATTRS = ("epoch", "rng_state")


class CheckpointError(SnnrefError):
    """A checkpoint file is damaged, not a checkpoint, or of an unsupported format version."""


# ------------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------------
def _fsync_dir(directory):
    if os.name != "posix":          # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path, write_fn):
    """Create a temp file next to ``path``, call ``write_fn(tmp_path)``, fsync, rename, fsync dir."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"directory {directory!r} does not exist; create it (os.makedirs) before writing "
            f"{os.path.basename(path)!r}."
        )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        write_fn(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)     # mkstemp creates 0600; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (temp file + flush + fsync + ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        Destination; its directory must exist. An existing file is replaced only once the new
        content is complete on disk.
    text : str
    encoding : str
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}. Use atomic_write_json for objects.")

    def write(tmp):
        with open(tmp, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()

    _atomic_write(path, write)


def _to_plain(obj):
    """json ``default`` for human-readable files: numpy scalars -> Python, arrays -> lists."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable; convert it to a number, "
                    "string, list or dict.")


def atomic_write_json(path, obj, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically (for metrics.json and config files).

    numpy scalars become Python numbers and numpy arrays nested lists; NaN/inf are written as
    ``NaN``/``Infinity`` (Python's json convention).
    """
    text = json.dumps(obj, indent=indent, default=_to_plain) + "\n"
    atomic_write_text(path, text)


# ------------------------------------------------------------------------------------------------
# JSON with exact numpy arrays (rng_state, config, metrics)
# ------------------------------------------------------------------------------------------------
def _json_default(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot store a numpy array of dtype {obj.dtype} in JSON; use a numeric array.")
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable; convert it to a number, "
                    "string, list, dict or numpy array.")


def _json_hook(d):
    if "__ndarray__" in d and set(d) == {"__ndarray__", "dtype", "shape"}:
        return np.array(d["__ndarray__"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])
    return d


def _dumps(obj, what):
    try:
        return json.dumps(obj, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} cannot be stored as JSON: {exc}") from exc


def _loads(text):
    return json.loads(text, object_hook=_json_hook)


# ------------------------------------------------------------------------------------------------
# tree nodes (optimizer_state, extra, weights, biases)
# ------------------------------------------------------------------------------------------------
def _write_node(parent, key, value, where):
    import h5py

    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{where} has dtype {value.dtype}; only numeric and boolean arrays can be stored.")
        ds = parent.create_dataset(key, data=value)
        ds.attrs[_KIND] = "ndarray"
    elif isinstance(value, np.generic) and value.dtype.kind in "biuf":
        ds = parent.create_dataset(key, data=value)
        ds.attrs[_KIND] = "npscalar"
    elif isinstance(value, dict):
        g = parent.create_group(key, track_order=True)
        g.attrs[_KIND] = "dict"
        for k, v in value.items():
            if not isinstance(k, str) or not k or "/" in k or k == "." or k == _KIND:
                raise TypeError(
                    f"{where} has key {k!r}; dict keys must be non-empty strings without '/' (and not {_KIND!r})."
                )
            _write_node(g, k, v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        g = parent.create_group(key, track_order=True)
        g.attrs[_KIND] = "tuple" if isinstance(value, tuple) else "list"
        for i, v in enumerate(value):
            _write_node(g, str(i), v, f"{where}[{i}]")
    elif value is None or isinstance(value, (bool, int, float, str)):
        ds = parent.create_dataset(key, data=json.dumps(value), dtype=h5py.string_dtype())
        ds.attrs[_KIND] = "json"
    else:
        raise TypeError(
            f"{where} is of type {type(value).__name__}; a checkpoint stores dicts, lists, tuples, numpy arrays, "
            "numbers, strings and None."
        )


def _read_node(obj, where):
    import h5py

    kind = obj.attrs.get(_KIND)
    if isinstance(kind, bytes):
        kind = kind.decode()
    if isinstance(obj, h5py.Group):
        if kind == "dict":
            return {k: _read_node(obj[k], f"{where}/{k}") for k in obj.keys()}
        if kind in ("list", "tuple"):
            n = len(obj)
            if sorted(obj.keys()) != sorted(str(i) for i in range(n)):
                raise CheckpointError(f"{where} is not a valid list node (keys {sorted(obj.keys())}).")
            items = [_read_node(obj[str(i)], f"{where}/{i}") for i in range(n)]
            return tuple(items) if kind == "tuple" else items
    else:
        if kind == "ndarray":
            return obj[()] if obj.shape == () else obj[...]
        if kind == "npscalar":
            return obj[()]
        if kind == "json":
            raw = obj[()]
            return _loads(raw.decode() if isinstance(raw, bytes) else raw)
    raise CheckpointError(f"{where} has unknown node kind {kind!r}.")


# ------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------
def _versions():
    import h5py
    import numba

    from .. import __version__

    return {"snnref": __version__, "numpy": np.__version__, "numba": numba.__version__, "h5py": h5py.__version__,
            "python": platform.python_version()}


def _check_array_list(arrs, name, allow_none=False):
    if arrs is None and allow_none:
        return None
    if isinstance(arrs, np.ndarray) or not isinstance(arrs, (list, tuple)):
        raise TypeError(f"{name} must be a list of numpy arrays (one per layer); got {type(arrs).__name__}.")
    out = []
    for i, a in enumerate(arrs):
        a = np.asarray(a)
        if a.dtype.kind != "f":
            raise TypeError(f"{name}[{i}] must be a floating array; got dtype {a.dtype}.")
        out.append(a)
    return out


def save_checkpoint(path, *, weights, biases, optimizer_state, rng_state, config, metrics, epoch, extra=None):
    """Save a training checkpoint to ``path`` (HDF5) atomically.

    The file is first written completely to a temporary file in the same directory, flushed and
    fsync-ed, and only then renamed over ``path`` (``os.replace``), so an interruption at any
    point leaves the previous checkpoint intact.

    Parameters
    ----------
    path : str or PathLike
        Destination file (its directory must exist).
    weights, biases : list of ndarray
        Network parameters (dtype kept exactly); ``biases`` may be None.
    optimizer_state : dict
        E.g. ``{"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}``; nested dicts,
        lists, tuples, arrays, numbers, strings and None are stored exactly.
    rng_state : dict, numpy Generator or None
        ``rng.bit_generator.state`` (a Generator is converted); stored as a JSON attribute, big
        integers exactly. Rebuild the generator with :func:`generator_from_state`.
    config : dict
        Resolved configuration (JSON).
    metrics : dict or list
        Metrics history (JSON).
    epoch : int >= 0
        Number of completed epochs.
    extra : optional
        Any tree as for ``optimizer_state`` (e.g. the best-model weights).
    """
    import h5py

    weights = _check_array_list(weights, "weights")
    biases = _check_array_list(biases, "biases", allow_none=True)
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0 (completed epochs); got {epoch!r}.")
    if isinstance(rng_state, np.random.Generator):
        rng_state = rng_state.bit_generator.state
    if rng_state is not None and not isinstance(rng_state, dict):
        raise TypeError(
            "rng_state must be the dict rng.bit_generator.state (or a numpy Generator); "
            f"got {type(rng_state).__name__}."
        )
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {type(config).__name__}.")
    rng_json = _dumps(rng_state, "rng_state")
    config_json = _dumps(config, "config")
    metrics_json = _dumps(metrics, "metrics")
    versions = _versions()

    def write(tmp):
        with h5py.File(tmp, "w", track_order=True, userblock_size=USERBLOCK_SIZE) as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["epoch"] = int(epoch)
            f.attrs["rng_state"] = rng_json
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            for k, v in versions.items():
                f.attrs[f"{k}_version"] = v
            _write_node(f, "weights", weights, "weights")
            _write_node(f, "biases", biases, "biases")
            _write_node(f, "optimizer_state", optimizer_state, "optimizer_state")
            _write_node(f, "extra", extra, "extra")
            f.create_dataset("config", data=config_json, dtype=h5py.string_dtype())
            f.create_dataset("metrics", data=metrics_json, dtype=h5py.string_dtype())
            f.flush()
        _write_integrity_header(tmp)

    _atomic_write(path, write)


def _header_bytes(digest, size):
    line = f"{FORMAT} {FORMAT_VERSION} sha256={digest} size={size}\n".encode("ascii")
    return line + b"\0" * (USERBLOCK_SIZE - len(line))


def _write_integrity_header(path):
    """Write the integrity line (SHA-256 of everything after the user block) into the user block."""
    h = hashlib.sha256()
    size = 0
    with open(path, "r+b") as f:
        f.seek(USERBLOCK_SIZE)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
        f.seek(0)
        f.write(_header_bytes(h.hexdigest(), size))
        f.flush()


def verified_bytes(path):
    """The bytes of checkpoint ``path`` after checking its integrity header (see the module docstring).

    Raises CheckpointError for any mismatch, before anything is parsed.
    """
    with open(path, "rb") as f:
        data = f.read()
    head = data[:USERBLOCK_SIZE]
    m = _HEADER.match(head)
    if m is None:
        if data[:8] == b"\x89HDF\r\n\x1a\n":
            raise CheckpointError(
                f"checkpoint {path!r} has no integrity header: it was written by an older snnref (format version 1) "
                "or by another program, so it cannot be verified. Train again to get a verifiable checkpoint.")
        raise _damaged(path, "integrity header missing or damaged")
    version, digest, size = int(m.group(1)), m.group(2).decode(), int(m.group(3))
    if head != _header_bytes(digest, size)[:len(head)] or len(head) != USERBLOCK_SIZE:
        if version != FORMAT_VERSION and head.startswith(f"{FORMAT} {version} ".encode()):
            raise CheckpointError(f"checkpoint {path!r} has format version {version}; this snnref reads version "
                                  f"{FORMAT_VERSION}. Load it with the snnref version that wrote it.")
        raise _damaged(path, "integrity header damaged")
    body = memoryview(data)[USERBLOCK_SIZE:]
    if len(body) != size:
        raise _damaged(path, f"{len(body)} bytes after the header, the header records {size}: truncated or extended")
    if hashlib.sha256(body).hexdigest() != digest:
        raise _damaged(path, "SHA-256 mismatch: the content was changed after it was written")
    return data


def _damaged(path, detail):
    return CheckpointError(
        f"checkpoint {path!r} is damaged or not an snnref checkpoint ({detail}). It may have been truncated by an "
        "interrupted copy or a full disk, or altered. Use the other checkpoint of the run (best.h5 / last.h5), "
        "or restart training from scratch."
    )


def _attr_str(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def load_checkpoint(path):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    dict
        ``weights``, ``biases`` (lists of arrays with their saved dtype, biases possibly None),
        ``optimizer_state``, ``rng_state``, ``config``, ``metrics``, ``epoch``, ``extra`` (as
        saved; JSON tuples come back as lists), plus ``format_version`` and ``versions`` (the
        library versions that wrote the file).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CheckpointError
        The file is damaged / not HDF5, not an snnref checkpoint, of another format version, or
        lacks a required entry.
    """
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"checkpoint {path!r} does not exist. Check the path (and the run directory), or start training "
            "without resuming."
        )
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint path {path!r} is not a regular file; pass the .h5 checkpoint file itself.")
    try:
        data = verified_bytes(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {exc.strerror or exc}.") from exc
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            if "format" not in f.attrs or _attr_str(f, "format") != FORMAT:
                raise CheckpointError(
                    f"{path!r} is an HDF5 file but not an snnref checkpoint (attribute 'format' is missing or is not "
                    f"{FORMAT!r}). Pass a file written by snnref.checkpoint.save_checkpoint."
                )
            version = int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise CheckpointError(
                    f"checkpoint {path!r} has format version {version}; this snnref reads version {FORMAT_VERSION}. "
                    f"Load it with the snnref version that wrote it ({f.attrs.get('snnref_version', 'unknown')})."
                )
            missing = [k for k in _REQUIRED if k not in f] + [k for k in _REQUIRED_ATTRS if k not in f.attrs]
            if missing:
                raise CheckpointError(
                    f"checkpoint {path!r} lacks {missing}, required by format version {FORMAT_VERSION}; the file is "
                    "incomplete or was written by an incompatible program. Load the previous checkpoint or restart."
                )
            out = {
                "weights": _read_node(f["weights"], "weights"),
                "biases": _read_node(f["biases"], "biases"),
                "optimizer_state": _read_node(f["optimizer_state"], "optimizer_state"),
                "rng_state": _loads(_attr_str(f, "rng_state")),
                "config": _loads(_read_node_str(f["config"])),
                "metrics": _loads(_read_node_str(f["metrics"])),
                "epoch": int(f.attrs["epoch"]),
                "extra": _read_node(f["extra"], "extra"),
                "format_version": version,
                "versions": {k[:-len("_version")]: _attr_str(f, k) for k in f.attrs
                             if k.endswith("_version") and k != "format_version"},
            }
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    return out


def _read_node_str(ds):
    raw = ds[()]
    return raw.decode() if isinstance(raw, bytes) else raw


def generator_from_state(state):
    """Rebuild a numpy ``Generator`` from a saved ``bit_generator.state`` dict.

    The new generator draws exactly the numbers the saved one would have drawn next.
    """
    if not isinstance(state, dict) or "bit_generator" not in state:
        raise ValueError(
            "state must be a numpy bit_generator.state dict with a 'bit_generator' entry; got "
            f"{type(state).__name__}."
        )
    name = state["bit_generator"]
    cls = getattr(np.random, name, None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise ValueError(f"unknown bit generator {name!r} in the saved RNG state.")
    bg = cls()
    bg.state = state
    return np.random.Generator(bg)
