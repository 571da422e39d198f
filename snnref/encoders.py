"""Input encodings of images (spec 6.1 ANTLR latency code, 6.3 TSSL-BP static input, rate code).

Every encoder takes a batch of images, either uint8 intensities 0..255 of shape (B, 28, 28) or
(B, 784), or floats in [0, 1] of the same shapes, and returns a time-major C-contiguous array of
shape (T, B, 784) (pixels flattened row-major) in ``dtype`` (float64 default, or float32), ready for
:func:`snnref.forward`.

Pixel values follow torchvision's ``ToTensor`` as used by both official codes: x = intensity / 255
computed in float32 (correctly rounded float32 division). Float input is used as given (latency and
static cast it to float32 first, like a float32 tensor).
"""
import operator

import numpy as np

from ._validate import check_finite, check_scalar, resolve_dtype

N_PIXELS = 784


def _check_T(T):
    if isinstance(T, (bool, np.bool_)):
        raise TypeError(f"T must be an integer number of time steps; got {T!r}.")
    try:
        T = operator.index(T)
    except TypeError:
        raise TypeError(f"T must be an integer number of time steps; got {T!r} ({type(T).__name__}).") from None
    if T < 1:
        raise ValueError(f"T must be >= 1 time step; got {T}.")
    return T


def _pixels(images, float32):
    """Validate ``images`` and return x = intensity in [0, 1] as (B, 784), float32 (or float64 if not float32)."""
    arr = np.asarray(images)
    if arr.ndim == 3 and arr.shape[1:] == (28, 28):
        arr = arr.reshape(arr.shape[0], N_PIXELS)
    elif not (arr.ndim == 2 and arr.shape[1] == N_PIXELS):
        raise ValueError(
            f"images must have shape (B, 28, 28) or (B, 784); got {arr.shape}. For a single image use images[None]."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"images is an empty batch (shape {arr.shape}); pass at least one image.")
    ftype = np.float32 if float32 else np.float64
    if arr.dtype == np.uint8:
        return arr.astype(ftype) / ftype(255)
    if arr.dtype.kind == "f":
        check_finite(arr, "images")
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(
                f"float images must lie in [0, 1]; got values in [{float(arr.min())!r}, {float(arr.max())!r}]. "
                "Pass uint8 intensities 0..255 or divide by 255 first."
            )
        return arr.astype(ftype)
    raise TypeError(
        f"images must be uint8 (0..255) or floating in [0, 1]; got dtype {arr.dtype}. "
        "For integer intensities 0..255 use images.astype(np.uint8)."
    )


def latency_times(images, max_input_timing=0, min_input_timing=24):
    """Spike step of every pixel under the ANTLR latency code (spec 6.1, A19); -1 = no spike.

    Computed in float32 exactly like the official ``float2spikes(type='latency')``::

        x = float32(intensity) / float32(255)                                      (ToTensor)
        v = float32(max_input_timing - min_input_timing) * x + float32(min_input_timing)   (two float32 roundings)
        t_in = trunc(v)  (toward zero, like ``Tensor.int()``);  x == 0 -> no spike (v forced to -1)

    Float rounding: v is rounded twice in float32, so a value that is an integer in exact arithmetic
    could land just below it and spike one step early; snnref reproduces the float32 result on purpose.
    For the default timings (0, 24) the float32 steps happen to equal the exact floor(24 (255 - k) / 255)
    for all 256 intensities k (checked in tests/test_encoders.py, including k = 85, 170 where the exact
    value is an integer); other timings or float inputs may differ. With non-default timings,
    v in (-1, 0) truncates to step 0 as in the official code.

    Returns
    -------
    ndarray of int64, shape (B, 784)
        Step index (may exceed T-1; :func:`latency` drops those), or -1 for zero pixels.
    """
    x = _pixels(images, float32=True)
    lo = check_scalar(max_input_timing, "max_input_timing")
    hi = check_scalar(min_input_timing, "min_input_timing")
    v = np.float32(lo - hi) * x + np.float32(hi)
    t_in = np.trunc(v).astype(np.int64)
    t_in[x == 0] = -1
    return t_in


def latency(images, T=300, max_input_timing=0, min_input_timing=24, dtype=np.float64):
    """ANTLR latency code of MNIST (spec 6.1, A19): one spike per non-zero pixel at step trunc(v).

    ``S[t, b, n] = 1`` iff ``t == latency_times(images)[b, n]`` and 0 <= t <= T-1; see
    :func:`latency_times` for v and its float32 rounding. Defaults: x = 1 -> t = 0, x = 1/255 -> t = 23,
    zero pixels never spike; T = 300 (official ``time_length``).

    Parameters
    ----------
    images : ndarray, shape (B, 28, 28) or (B, 784)
        uint8 intensities or floats in [0, 1].
    T : int
        Number of time steps, >= 1. Spikes at steps > T-1 are dropped.
    max_input_timing, min_input_timing : float
        Step of the brightest (x = 1) and of the faintest (x -> 0) pixel (official names; defaults 0, 24).
    dtype : float64 or float32

    Returns
    -------
    ndarray, shape (T, B, 784), values 0/1 of ``dtype``, C-contiguous.
    """
    T = _check_T(T)
    dtype = resolve_dtype(dtype)
    t_in = latency_times(images, max_input_timing, min_input_timing)
    out = np.zeros((T,) + t_in.shape, dtype=dtype)
    b, n = np.nonzero((t_in >= 0) & (t_in < T))
    out[t_in[b, n], b, n] = 1
    return out


def latency_events(images, T=300, max_input_timing=0, min_input_timing=24):
    """Event-list form of :func:`latency`: index arrays ``(t, b, n)`` of the spikes.

    Sorted in time-major memory order (t, then b, then n), so ``S[t, b, n] = 1`` rebuilds
    ``latency(images, T, ...)`` exactly.

    Returns
    -------
    t, b, n : ndarray of int64, each shape (n_spikes,)
    """
    T = _check_T(T)
    t_in = latency_times(images, max_input_timing, min_input_timing)
    b, n = np.nonzero((t_in >= 0) & (t_in < T))
    t = t_in[b, n]
    order = np.lexsort((n, b, t))
    return t[order], b[order], n[order]


def static(images, T=5, mean=0.1307, std=0.3081, dtype=np.float64, torch_float32=True):
    """TSSL-BP static input (spec 6.3, A31): the normalised image, identical at every step.

    ``X[t, b, n] = (x[b, n] - mean) / std`` for t = 0..T-1. No spike encoding: the PSP filtering of
    this real-valued input (spec 2.2) happens inside :func:`snnref.forward` for TSSL-BP models.
    MNIST and Fashion-MNIST both use the MNIST statistics (defaults).

    Parameters
    ----------
    images : ndarray, shape (B, 28, 28) or (B, 784)
        uint8 intensities or floats in [0, 1].
    T : int
        Number of time steps (TSSL-BP yaml: 5), >= 1.
    mean, std : float
        Normalisation (std > 0).
    dtype : float64 or float32
    torch_float32 : bool
        True (default): x = intensity/255 and (x - mean)/std computed in float32 like torchvision's
        ``ToTensor`` + ``Normalize`` (mean, std rounded to float32), then cast to ``dtype``; this is the
        input the official code sees. False: the same formula evaluated in float64.

    Returns
    -------
    ndarray, shape (T, B, 784), C-contiguous.
    """
    T = _check_T(T)
    dtype = resolve_dtype(dtype)
    mean = check_scalar(mean, "mean")
    std = check_scalar(std, "std", lo=0.0, lo_open=True)
    x = _pixels(images, float32=bool(torch_float32))
    ftype = x.dtype.type
    z = (x - ftype(mean)) / ftype(std)
    out = np.empty((T,) + z.shape, dtype=dtype)
    out[...] = z.astype(dtype)
    return out


def rate(images, T, max_rate=1.0, rng=None, dtype=np.float64):
    """Bernoulli rate code: each pixel spikes independently at every step with probability x * max_rate.

    ``S[t, b, n] = 1`` iff ``u[t, b, n] < x[b, n] * max_rate`` with ``u = rng.random((T, B, 784))``
    (float64, C order) and x = intensity/255 in float64. Not used by either official code; provided for
    experiments. Reproducible: same ``rng`` seed -> same raster.

    Parameters
    ----------
    images : ndarray, shape (B, 28, 28) or (B, 784)
        uint8 intensities or floats in [0, 1].
    T : int
        Number of time steps, >= 1.
    max_rate : float
        Spike probability per step of a pixel with x = 1, in [0, 1].
    rng : int, numpy.random.Generator or None
        Passed to ``np.random.default_rng``.
    dtype : float64 or float32

    Returns
    -------
    ndarray, shape (T, B, 784), values 0/1 of ``dtype``, C-contiguous.
    """
    T = _check_T(T)
    dtype = resolve_dtype(dtype)
    max_rate = check_scalar(max_rate, "max_rate", lo=0.0, hi=1.0)
    x = _pixels(images, float32=False)
    gen = np.random.default_rng(rng)
    u = gen.random((T,) + x.shape)
    return (u < x * max_rate).astype(dtype)
