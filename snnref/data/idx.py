"""IDX reader and the MNIST / Fashion-MNIST loaders (spec 6.1, 6.3).

IDX format (LeCun et al., "The MNIST database of handwritten digits"), all integers big-endian::

    bytes 0-1   0x00 0x00
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 d bytes   the d dimensions, each an unsigned 32-bit integer
    rest        prod(dims) items of the dtype, row-major (C order)

The loaders decompress a ``.gz`` file once, in memory, check the SHA-256 of the *uncompressed* bytes
(MNIST only, values below = snnref/data/mnist/README.md) and parse the header; nothing is downloaded.
"""
import gzip
import hashlib
import operator
import os
import zlib
from pathlib import Path

import numpy as np

#: The folder of this package; ``mnist/`` in it is the shipped MNIST copy (package data).
PACKAGE_DATA_DIR = Path(__file__).resolve().parent

#: SHA-256 of the uncompressed MNIST files (snnref/data/mnist/README.md).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: File stems of the two splits (MNIST and Fashion-MNIST use the same names).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_WHERE_HINT = (
    "Put the file there (gzip-compressed '<name>.gz' or uncompressed '<name>'), or set the environment "
    "variable SNNREF_DATA_DIR to a data directory that holds it (layout: <data_dir>/mnist/, "
    "<data_dir>/fashion-mnist/)."
)


def _check_int(value, name, lo=None):
    """Return ``int(value)`` after checking it is an integer (not bool) >= ``lo``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer; got {value!r}.")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__}).") from None
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}; got {v}.")
    return v


def default_data_dir():
    """Directory holding the data sets: ``$SNNREF_DATA_DIR`` if set, else the package's own data folder.

    Returns
    -------
    pathlib.Path
        ``Path(os.environ["SNNREF_DATA_DIR"])`` when the variable is set and non-empty, otherwise
        the folder of :mod:`snnref.data`, which ships ``mnist/`` (package data: present in source
        checkouts, editable and regular installs alike). Other data sets go to
        ``<data_dir>/fashion-mnist/`` etc. of a directory named by ``SNNREF_DATA_DIR`` or ``--data-dir``.

    Raises
    ------
    FileNotFoundError
        If ``SNNREF_DATA_DIR`` is not a directory.
    """
    env = os.environ.get("SNNREF_DATA_DIR", "")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"SNNREF_DATA_DIR points to {str(path)!r}, which is not a directory. Set it to the folder that "
                "contains mnist/ (and optionally fashion-mnist/), or unset it to use the MNIST copy shipped with "
                "snnref."
            )
        return path
    return PACKAGE_DATA_DIR


def _read_bytes(path, n_bytes=None):
    """Return the (decompressed if ``*.gz``) content of ``path``, at most ``n_bytes`` when given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} not found. " + _WHERE_HINT.replace("<name>", path.name))
    if path.suffix != ".gz":
        with open(path, "rb") as f:
            return f.read() if n_bytes is None else f.read(n_bytes)
    try:
        if n_bytes is None:
            return gzip.decompress(path.read_bytes())
        with gzip.open(path, "rb") as f:
            return f.read(n_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{str(path)!r} is not a valid gzip file or is truncated ({type(exc).__name__}: {exc}): corrupt or "
            "incomplete copy. Re-copy it (MNIST: from snnref/data/mnist/ of the snnref repository or the original "
            "MNIST distribution)."
        ) from exc


def _parse_header(raw, where):
    """Parse an IDX header; return (numpy dtype, dims tuple, header length in bytes)."""
    if len(raw) < 4:
        raise ValueError(f"{where} is too short to be an IDX file ({len(raw)} bytes; the header alone has >= 4).")
    if raw[0] != 0 or raw[1] != 0:
        hint = ""
        if raw[:2] == _GZIP_MAGIC:
            hint = " The content is gzip-compressed: give the file a '.gz' suffix."
        raise ValueError(
            f"{where} has a wrong IDX magic number (first bytes {raw[:4].hex()}; expected 0000 followed by a "
            f"dtype code and the number of dimensions): not an IDX file.{hint}"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ValueError(
            f"{where} has an unknown IDX dtype code 0x{code:02X}; expected one of "
            f"{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}. The file is corrupt or not an IDX file."
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{where} is truncated inside the IDX header ({len(raw)} bytes; {ndim} dimensions need {header_len})."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], dims, header_len


def _parse_idx(raw, where, max_items=None):
    """Parse IDX bytes into a native-endian array (first ``max_items`` along axis 0 when given)."""
    dtype, dims, header_len = _parse_header(raw, where)
    if max_items is not None and dims:
        dims = (min(dims[0], max_items),) + dims[1:]
        n_expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        n_data = min(len(raw) - header_len, n_expected)
    else:
        n_expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        n_data = len(raw) - header_len
    if n_data < n_expected:
        raise ValueError(
            f"{where} is truncated: its header announces shape {dims} of {dtype.name} ({n_expected} data bytes) "
            f"but only {n_data} bytes follow. Re-copy the file."
        )
    if n_data > n_expected:
        raise ValueError(
            f"{where} has {n_data - n_expected} unexpected bytes after the {n_expected} data bytes announced by its "
            f"header (shape {dims}): corrupt or not an IDX file. Re-copy the file."
        )
    arr = np.frombuffer(raw, dtype=dtype, count=n_expected // dtype.itemsize, offset=header_len)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def read_idx(path, sha256=None):
    """Read an IDX file (raw, or gzip-compressed if the name ends in ``.gz``) into a numpy array.

    Parameters
    ----------
    path : str or path-like
        The file.
    sha256 : str, optional
        Expected SHA-256 (hex) of the *uncompressed* bytes; checked before parsing when given.

    Returns
    -------
    ndarray
        Shape = the dimensions in the header, native-endian dtype given by the header's dtype code
        (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64). Writable copy.

    Raises
    ------
    FileNotFoundError
        Missing file (the message says where to put it / to set ``SNNREF_DATA_DIR``).
    ValueError
        Bad gzip stream, SHA-256 mismatch, wrong magic number, unknown dtype code, truncated header or
        data, trailing bytes.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if sha256 is not None:
        _check_sha256(raw, sha256, path)
    return _parse_idx(raw, repr(str(path)))


def _check_sha256(raw, expected, path):
    got = hashlib.sha256(raw).hexdigest()
    if got != expected.lower():
        raise ValueError(
            f"{str(path)!r}: the SHA-256 of the uncompressed data is {got}, expected {expected}: corrupt or "
            "modified copy. Re-copy it from snnref/data/mnist/ of the snnref repository (or the original MNIST "
            "distribution), or pass verify=False to skip the check at your own risk."
        )


def _locate(folder, stem):
    """Return ``folder/stem.gz`` if present, else ``folder/stem``; FileNotFoundError naming both otherwise."""
    gz = folder / (stem + ".gz")
    if gz.is_file():
        return gz
    plain = folder / stem
    if plain.is_file():
        return plain
    raise FileNotFoundError(
        f"IDX file {stem!r} not found: neither {str(gz)!r} nor {str(plain)!r} exists. "
        + _WHERE_HINT.replace("<name>", stem)
    )


def _load_idx_pair(folder, split, limit, verify, sha_table, n_classes=10):
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
    if limit is not None:
        limit = _check_int(limit, "limit", lo=1)
    out = []
    for stem in SPLIT_FILES[split]:
        path = _locate(folder, stem)
        if verify and sha_table is not None:
            raw = _read_bytes(path)
            _check_sha256(raw, sha_table[stem], path)
            out.append(_parse_idx(raw, repr(str(path)), max_items=limit))
        elif limit is not None:
            # Read only the header and the first `limit` items (no SHA check requested).
            head = _read_bytes(path, n_bytes=4 + 4 * 255)
            dtype, dims, header_len = _parse_header(head, repr(str(path)))
            n_items = min(dims[0], limit) if dims else 1
            per_item = int(np.prod(dims[1:], dtype=np.int64)) * dtype.itemsize
            raw = _read_bytes(path, n_bytes=header_len + n_items * per_item)
            out.append(_parse_idx(raw, repr(str(path)), max_items=limit))
        else:
            out.append(_parse_idx(_read_bytes(path), repr(str(path))))
    images, labels = out
    where = f"{str(folder)!r} ({split})"
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{where}: images must be uint8 of shape (N, 28, 28); got {images.dtype} {images.shape}. "
            "The image file is corrupt or not the expected data set."
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{where}: labels must be uint8 of shape (N,); got {labels.dtype} {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{where}: {images.shape[0]} images but {labels.shape[0]} labels; the files do not belong together."
        )
    if limit is not None and images.shape[0] < limit:
        raise ValueError(f"limit ({limit}) exceeds the number of samples in the {split} split ({images.shape[0]}).")
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"{where}: labels must be in [0, {n_classes}); found {int(labels.max())}.")
    return images, labels.astype(np.int64)


def load_mnist(split="train", data_dir=None, limit=None, verify=True):
    """Load MNIST from ``<data_dir>/mnist/`` (shipped with snnref; never downloads).

    Reads ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (split "train", 60000 samples) or
    ``t10k-*`` (split "test", 10000 samples), preferring the ``.gz`` file when both forms exist.
    Spec 6.1 / 6.3 build the encodings from these raw intensities (see :mod:`snnref.encoders`); the
    50000/10000 train/validation split of the ANTLR code is left to the caller.

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : path-like, optional
        Data directory (default :func:`default_data_dir`).
    limit : int, optional
        Return only the first ``limit`` samples (file order). Must not exceed the split's size.
    verify : bool
        Check the SHA-256 of the uncompressed files against :data:`MNIST_SHA256` (default True;
        costs ~0.05 s for the training images). With ``verify=False`` and a ``limit`` only the
        needed prefix of each file is decompressed.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
        Intensities 0..255, row-major pixels.
    labels : ndarray of int64, shape (N,)
        Digits 0..9.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load_idx_pair(folder / "mnist", split, limit, bool(verify), MNIST_SHA256)


def load_fashion_mnist(split="train", data_dir=None, limit=None):
    """Load Fashion-MNIST (Xiao et al. 2017) from ``<data_dir>/fashion-mnist/`` (not shipped).

    Same file names and IDX format as MNIST (``train-images-idx3-ubyte[.gz]``, ...). Copy the four
    official files there. No SHA-256 check is made: snnref does not hard-code hashes it could not
    verify for the uncompressed Fashion-MNIST files; the loader still checks the IDX structure
    (magic number, shapes 28x28, equal counts, labels < 10). Spec 6.3 / A31: TSSL-BP normalises
    Fashion-MNIST with the MNIST statistics (:func:`snnref.encoders.static` defaults).

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : path-like, optional
        Data directory (default :func:`default_data_dir`).
    limit : int, optional
        Only the first ``limit`` samples.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
    labels : ndarray of int64, shape (N,), in 0..9
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load_idx_pair(folder / "fashion-mnist", split, limit, False, None)
