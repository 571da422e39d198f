"""N-MNIST (Orchard et al. 2015) event files and the two binnings of spec 6.2 (ANTLR) and 6.4 (TSSL-BP).

Event format of the original ``.bin`` files (40 bits = 5 bytes per event, no header)::

    byte 0            x address (0..33)
    byte 1            y address (0..33)
    byte 2, bit 7     polarity p (0 or 1)
    bits 22..0        timestamp in microseconds = (byte2 & 0x7F) << 16 | byte3 << 8 | byte4

Both binnings produce binary frames of shape (T, 2*34*34) = (T, 2312), flattened from a
(T, 2, 34, 34) = (time, polarity, x, y) tensor in C order, i.e. input channel

    c = p * 1156 + x * 34 + y

which is the flattening of both official loaders (ANTLR ``x_data_bin[t, p, x, y]``; TSSL-BP
``data[p, x, y, t]`` with channel id (x-1)*34 + y (+1156) of its MATLAB converter, 1-based x, y).
Nothing is downloaded: ``load_nmnist`` reads the original ``Train/<digit>/*.bin`` layout.
"""
from pathlib import Path

import numpy as np

from .._validate import check_options
from .idx import _check_int

#: Structured dtype of one event (file order is kept).
EVENT_DTYPE = np.dtype([("x", np.uint8), ("y", np.uint8), ("p", np.uint8), ("ts", np.int64)])

SENSOR = 34  #: sensor side (pixels)
N_CHANNELS = 2 * SENSOR * SENSOR  #: 2312 input channels


def read_nmnist_events(path):
    """Read an N-MNIST ``.bin`` file into a structured event array (spec 6.2).

    Parameters
    ----------
    path : path-like
        Original N-MNIST binary file (5 bytes per event; see the module docstring).

    Returns
    -------
    ndarray, dtype :data:`EVENT_DTYPE`, shape (n_events,)
        Fields ``x``, ``y`` (uint8), ``p`` (uint8, 0/1 = bit 7 of byte 2) and ``ts`` (int64, microseconds),
        in file order.

    Raises
    ------
    FileNotFoundError
        Missing file.
    ValueError
        File length not a multiple of 5 (trailing partial event: truncated or not an N-MNIST file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"N-MNIST event file {str(path)!r} not found. Copy the original N-MNIST data set (Train/<digit>/*.bin, "
            "Test/<digit>/*.bin) and pass its root folder."
        )
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(
            f"N-MNIST file {str(path)!r} has {raw.size} bytes, not a multiple of 5 (5 bytes per event): the last "
            f"event is incomplete ({raw.size % 5} trailing bytes). The file is truncated or not an N-MNIST .bin "
            "file; re-copy it."
        )
    raw = raw.reshape(-1, 5).astype(np.int64)
    events = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    events["x"] = raw[:, 0]
    events["y"] = raw[:, 1]
    events["p"] = raw[:, 2] >> 7
    events["ts"] = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return events


def _check_events(events, name="events"):
    """Return (x, y, p, ts) as int64 arrays after checking fields and ranges."""
    arr = np.asarray(events)
    fields = arr.dtype.names or ()
    missing = [f for f in ("x", "y", "p", "ts") if f not in fields]
    if missing or arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-d structured array with fields x, y, p, ts (as returned by read_nmnist_events); "
            f"got dtype {arr.dtype} with shape {arr.shape}."
        )
    x, y, p, ts = (np.asarray(arr[f]).astype(np.int64) for f in ("x", "y", "p", "ts"))
    for field, values, hi in (("x", x, SENSOR - 1), ("y", y, SENSOR - 1), ("p", p, 1)):
        bad = (values < 0) | (values > hi)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{name}[{i}] has {field} = {int(values[i])}, outside [0, {hi}] of the 34x34 N-MNIST sensor "
                "(2 polarities). The file is not an (unstabilised) N-MNIST recording."
            )
    if (ts < 0).any():
        i = int(np.argmax(ts < 0))
        raise ValueError(f"{name}[{i}] has a negative timestamp ts = {int(ts[i])}; timestamps are microseconds >= 0.")
    return x, y, p, ts


def nmnist_frames_antlr(events, T=300, window_us=300_000, single_spike=False):
    """Bin N-MNIST events as the official ANTLR loader does (spec 6.2, A20).

    Events are read in file order; reading **stops at the first event with ts >= window_us** (later
    events are ignored even if their timestamps are smaller). Each remaining event sets

        frames[bin, p*1156 + x*34 + y] = 1,   bin = floor(ts / w),   w = 1000 * ((window_us / 1000) / T)

    (the bin width in microseconds computed in float64 exactly as the official
    ``time // (1000 * (truncate_time_in_ms / time_length))``; identical whenever ``window_us`` is a
    multiple of 1000). Several events in one bin give 1 (binary). No stabilisation. Default: 1 ms
    bins over the first 300 ms, T = 300.

    Parameters
    ----------
    events : structured ndarray
        From :func:`read_nmnist_events`.
    T : int
        Number of time bins (``time_length``), >= 1.
    window_us : int
        Length of the window in microseconds (``truncate_time_in_ms`` * 1000), >= 1.
    single_spike : bool
        Option ``nmnist_single_spike`` **[choice]** (spec A20, Table A3 "single-spike coding"): keep only
        the first event (file order, within the window) of each input channel, so each channel spikes at
        most once.

    Returns
    -------
    ndarray of uint8, shape (T, 2312)
        Binary frames, channel c = p*1156 + x*34 + y.
    """
    T = _check_int(T, "T", lo=1)
    window_us = _check_int(window_us, "window_us", lo=1)
    x, y, p, ts = _check_events(events)
    late = ts >= window_us
    if late.any():
        stop = int(np.argmax(late))
        x, y, p, ts = x[:stop], y[:stop], p[:stop], ts[:stop]
    channel = p * (SENSOR * SENSOR) + x * SENSOR + y
    width = 1000.0 * ((window_us / 1000.0) / T)
    bins = np.floor_divide(ts.astype(np.float64), width).astype(np.int64)
    if single_spike:
        _, first = np.unique(channel, return_index=True)
        channel, bins = channel[first], bins[first]
    keep = bins < T  # always true for ts < window_us; kept as a guard against float rounding
    frames = np.zeros((T, N_CHANNELS), dtype=np.uint8)
    frames[bins[keep], channel[keep]] = 1
    return frames


def nmnist_frames_tssl(events, T=30, bin_us=3000, ts0_last=False):
    """Bin N-MNIST events as the official TSSL-BP pipeline does, without stabilisation (spec 6.4, A34).

    Per event: bin = ceil(ts / bin_us) (integer arithmetic). For each input channel c = p*1156 + x*34 + y
    the events are taken in file order and reading of that channel **stops at its first event with
    bin >= T** (the official loader breaks out of the channel's time-sorted spike list). Every kept
    event sets ``frames[bin - 1, c] = 1``, so bins 1..T-1 fill time indices 0..T-2. An event with
    ts = 0 has bin 0: it is dropped by default; with ``ts0_last=True`` it lands in the last step T-1,
    reproducing the official index -1 (Python negative indexing).

    Not reproduced: the official MATLAB preprocessing first applies Orchard's saccade stabilisation
    (piecewise-linear shifts of x, y over the three 105 ms saccades, MATLAB rounding, removal of
    events leaving the 34x34 frame) and stores text files. That is a data-set preparation step outside
    the learning rules, its results depend on MATLAB's rounding of shifted coordinates, and its output
    files are not available to check against; snnref bins the raw (unstabilised) events. To compare
    with the official code, feed both the same frames.

    Parameters
    ----------
    events : structured ndarray
        From :func:`read_nmnist_events`.
    T : int
        Number of time steps (``n_steps``, yaml 30), >= 1.
    bin_us : int
        Bin width in microseconds (3000), >= 1.
    ts0_last : bool
        Option ``nmnist_ts0_last`` (default False): reproduce the ts = 0 -> last step quirk.

    Returns
    -------
    ndarray of uint8, shape (T, 2312)
    """
    T = _check_int(T, "T", lo=1)
    bin_us = _check_int(bin_us, "bin_us", lo=1)
    x, y, p, ts = _check_events(events)
    channel = p * (SENSOR * SENSOR) + x * SENSOR + y
    bins = (ts + (bin_us - 1)) // bin_us  # ceil(ts / bin_us) for ts >= 0
    # first event index (file order) of each channel with bin >= T; later events of that channel are cut
    order = np.arange(ts.size)
    cut = np.full(N_CHANNELS, ts.size, dtype=np.int64)
    late = bins >= T
    np.minimum.at(cut, channel[late], order[late])
    keep = order < cut[channel]
    step = bins - 1
    if ts0_last:
        step = np.where(bins == 0, T - 1, step)
    else:
        keep &= bins > 0
    frames = np.zeros((T, N_CHANNELS), dtype=np.uint8)
    frames[step[keep], channel[keep]] = 1
    return frames


_BINNINGS = {
    "antlr": (nmnist_frames_antlr, 300, {"window_us", "single_spike"}),
    "tssl": (nmnist_frames_tssl, 30, {"bin_us", "ts0_last"}),
}


def nmnist_files(root, split="train"):
    """List the ``.bin`` files of one split with their labels.

    Expects the original layout ``<root>/Train/<digit>/*.bin`` and ``<root>/Test/<digit>/*.bin`` with all
    ten digit folders. Order **[choice]**: by the numeric file name (N-MNIST numbers its files like the
    MNIST samples, e.g. ``00001.bin``; the ANTLR code indexes samples this way), then by digit; non-numeric
    names come last, sorted by name.

    Returns
    -------
    list of (pathlib.Path, int)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
    folder = Path(root) / ("Train" if split == "train" else "Test")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"N-MNIST split folder {str(folder)!r} not found. Pass as root the N-MNIST directory that holds "
            "Train/<digit>/*.bin and Test/<digit>/*.bin (original binary format, not the preprocessed text files)."
        )
    files = []
    for digit in range(10):
        sub = folder / str(digit)
        if not sub.is_dir():
            raise FileNotFoundError(
                f"N-MNIST digit folder {str(sub)!r} not found; {str(folder)!r} must contain the folders 0..9. "
                "The copy is incomplete: re-copy the data set."
            )
        files.extend((f, digit) for f in sub.glob("*.bin") if f.is_file())

    def key(item):
        f, digit = item
        stem = f.stem
        return (0, int(stem), "", digit) if stem.isdigit() else (1, 0, stem, digit)

    return sorted(files, key=key)


def load_nmnist(root, split="train", binning="antlr", T=None, limit=None, **binning_options):
    """Load N-MNIST as binary frames (spec 6.2 ANTLR or 6.4 TSSL-BP binning).

    Memory: N * T * 2312 bytes (60000 samples at T = 300 would need 42 GB); use ``limit`` or
    iterate over :func:`nmnist_files` with :func:`read_nmnist_events` and a frames function.

    Parameters
    ----------
    root : path-like
        N-MNIST directory with ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``.
    split : {"train", "test"}
    binning : {"antlr", "tssl"}
        :func:`nmnist_frames_antlr` (default T = 300) or :func:`nmnist_frames_tssl` (default T = 30).
    T : int, optional
        Number of time steps (default per binning).
    limit : int, optional
        Only the first ``limit`` files in the order of :func:`nmnist_files`.
    **binning_options
        ``window_us``, ``single_spike`` (antlr) or ``bin_us``, ``ts0_last`` (tssl).

    Returns
    -------
    frames : ndarray of uint8, shape (N, T, 2312)
    labels : ndarray of int64, shape (N,)
    """
    if binning not in _BINNINGS:
        raise ValueError(f"binning must be one of ['antlr', 'tssl']; got {binning!r}.")
    fn, T_default, allowed = _BINNINGS[binning]
    check_options(binning_options, allowed, f"load_nmnist(binning={binning!r})")
    T = T_default if T is None else _check_int(T, "T", lo=1)
    files = nmnist_files(root, split)
    if limit is not None:
        limit = _check_int(limit, "limit", lo=1)
        if limit > len(files):
            raise ValueError(f"limit ({limit}) exceeds the number of N-MNIST {split} files found ({len(files)}).")
        files = files[:limit]
    frames = np.zeros((len(files), T, N_CHANNELS), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    for i, (path, digit) in enumerate(files):
        events = read_nmnist_events(path)
        try:
            frames[i] = fn(events, T=T, **binning_options)
        except ValueError as exc:
            raise ValueError(f"N-MNIST file {str(path)!r}: {exc}") from exc
        labels[i] = digit
    return frames, labels
