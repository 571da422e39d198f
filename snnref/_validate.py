"""Input checks for the public API (never called from kernels).

Every message says what is wrong, what was expected, and what to do about it.
"""
import math

import numpy as np

_DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype):
    """Map ``None`` / ``"float64"`` / ``np.float32`` ... to ``np.float64`` or ``np.float32``."""
    if dtype is None:
        return np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float64 or float32; got {dtype!r}.") from exc
    if dt == np.float64:
        return np.float64
    if dt == np.float32:
        return np.float32
    raise TypeError(f"dtype must be float64 or float32; got {dt}. snnref computes in float64 (reference) or float32.")


def _first_bad_index(mask):
    idx = np.argwhere(mask)[0]
    return tuple(int(i) for i in idx)


def check_finite(arr, name):
    """Raise ValueError if ``arr`` holds NaN or inf, naming the count and first index."""
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite values (NaN or inf); first at index "
            f"{_first_bad_index(bad)}. Remove or replace them (e.g. np.nan_to_num) before calling snnref."
        )


def as_float_array(x, name, *, ndim=None, dtype=np.float64, allow_int=False):
    """Return ``x`` as a C-contiguous finite array of ``dtype``.

    Non-floating input is rejected (``allow_int`` admits bool/int, used for spike rasters).
    """
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array; got an object array. Pass a numpy array of floats.")
    kind = arr.dtype.kind
    if kind not in "f" and not (allow_int and kind in "biu"):
        what = "a floating array" if not allow_int else "a floating, integer or boolean array"
        raise TypeError(f"{name} must be {what}; got dtype {arr.dtype}. Use {name}.astype(np.float64).")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {arr.shape} ({arr.ndim} dimensions).")
    if kind == "f":
        check_finite(arr, name)
    with np.errstate(over="ignore"):  # an overflow of the cast is reported just below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if kind == "f" and out.dtype != arr.dtype:
        check_finite(out, f"{name} (converted to {np.dtype(dtype).name}, values beyond its range overflow)")
    return out


def check_binary(arr, name):
    """Raise ValueError unless every entry of ``arr`` is 0 or 1."""
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        idx = _first_bad_index(bad)
        raise ValueError(
            f"{name} must contain only 0 and 1 (spikes); found {arr[idx].item()!r} at index {idx}. "
            "Encode real-valued input as spikes first (see snnref.encoders), or use a TSSL-BP model, "
            "which accepts real-valued input currents."
        )


def check_time_major(arr, name, n_features=None):
    """Check a (T, B, N) array: 3 dimensions, T >= 1, B >= 1, N matching when given."""
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be time-major with shape (T, B, N); got shape {arr.shape}. "
            "For a single sample use x[:, None, :]; for batch-major data use x.transpose(1, 0, 2)."
        )
    T, B, N = arr.shape
    if T == 0:
        raise ValueError(f"{name} has T = 0 time steps (shape {arr.shape}); simulate at least one step.")
    if B == 0:
        raise ValueError(f"{name} has an empty batch (shape {arr.shape}); pass at least one sample.")
    if n_features is not None and N != n_features:
        raise ValueError(
            f"{name}.shape[2] ({N}) must equal the number of input neurons of the network ({n_features}); "
            f"got shape {arr.shape}."
        )


def check_scalar(value, name, *, lo=None, hi=None, lo_open=False, hi_open=False, hint=""):
    """Return ``float(value)`` after checking it is a finite real number in the given range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__}).")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v}.")
    bad = False
    if lo is not None and (v < lo or (lo_open and v == lo)):
        bad = True
    if hi is not None and (v > hi or (hi_open and v == hi)):
        bad = True
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        msg = f"{name} must be in {left}{lo_s}, {hi_s}{right}; got {v!r}."
        if hint:
            msg += " " + hint
        raise ValueError(msg)
    return v


def check_labels(labels, batch, n_classes, name="labels"):
    """Return labels as an int64 array of shape (B,), each in [0, n_classes)."""
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an integer array of class indices; got dtype {arr.dtype}.")
    if arr.shape != (batch,):
        raise ValueError(f"{name} must have shape (B,) = ({batch},); got {arr.shape}.")
    if batch and (arr.min() < 0 or arr.max() >= n_classes):
        bad = int(arr[(arr < 0) | (arr >= n_classes)][0])
        raise ValueError(f"{name} must be in [0, {n_classes}) (one per output neuron); found {bad}.")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}.")
    return value


def check_options(options, allowed, where):
    """Reject unknown keyword options, naming the allowed ones."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"{where} got unknown option(s) {unknown}; allowed options are {sorted(allowed)}."
        )
