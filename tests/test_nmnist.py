"""N-MNIST event files and binnings (snnref.data.nmnist; spec 6.2, 6.4, A20, A34)."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from snnref.data import (EVENT_DTYPE, load_nmnist, nmnist_files, nmnist_frames_antlr, nmnist_frames_tssl,
                         read_nmnist_events)


def encode_events(events):
    """Independent writer of the original N-MNIST format: 5 bytes per event (x, y, p<<7 | ts>>16, ts>>8, ts)."""
    out = bytearray()
    for x, y, p, ts in events:
        assert 0 <= ts < 2**23 and p in (0, 1)
        out += bytes([x, y, (p << 7) | (ts >> 16), (ts >> 8) & 0xFF, ts & 0xFF])
    return bytes(out)


def make_events(rows):
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (x, y, p, ts) in enumerate(rows):
        ev[i] = (x, y, p, ts)
    return ev


def naive_antlr(rows, T=300, window_ms=300, single_spike=False):
    """Transcription of the official ANTLR NMNIST.__getitem__ loop (spec 6.2), plus the single-spike choice."""
    frames = np.zeros((T, 2, 34, 34), np.uint8)
    seen = set()
    for x, y, p, ts in rows:
        if ts // 1000 >= window_ms:
            break
        step = int(ts // (1000 * (window_ms / T)))
        if single_spike:
            if (p, x, y) in seen:
                continue
            seen.add((p, x, y))
        frames[step, p, x, y] = 1
    return frames.reshape(T, -1)


def naive_tssl(rows, T=30, bin_us=3000, ts0_last=False):
    """Transcription of the TSSL-BP converter + loader (spec 6.4) without stabilisation."""
    per_channel = {}
    for x, y, p, ts in rows:  # converter: channel lists in event order, bins ceil(ts / bin_us)
        ch = p * 1156 + x * 34 + y
        per_channel.setdefault(ch, []).append(-(-ts // bin_us))
    frames = np.zeros((2, 34, 34, T), np.uint8)
    for ch, bins in per_channel.items():
        p, pos = divmod(ch, 1156)
        x, y = divmod(pos, 34)
        for b in bins:  # loader
            if b >= T:
                break
            if b == 0 and not ts0_last:
                continue
            frames[p, x, y, b - 1] = 1  # b = 0 -> index -1 = T-1
    return frames.reshape(2312, T).T


event_rows = st.lists(
    st.tuples(st.integers(0, 33), st.integers(0, 33), st.integers(0, 1), st.integers(0, 2**23 - 1)), max_size=40)
small_rows = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 1), st.integers(0, 400_000)), max_size=40)


# --------------------------------------------------------------------------------------------- reading
@given(event_rows)
def test_read_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("ev") / "00001.bin"
    path.write_bytes(encode_events(rows))
    ev = read_nmnist_events(path)
    assert ev.dtype == EVENT_DTYPE and ev.shape == (len(rows),)
    assert [tuple(int(v) for v in e) for e in ev] == [tuple(r) for r in rows]


def test_read_hand_bytes(tmp_path):
    path = tmp_path / "a.bin"
    # x=3, y=33, p=1, ts = 0x05 << 16 | 0x01 << 8 | 0x02 = 327938; then x=0, y=0, p=0, ts = 0x7FFFFF
    path.write_bytes(bytes([3, 33, 0x85, 0x01, 0x02, 0, 0, 0x7F, 0xFF, 0xFF]))
    ev = read_nmnist_events(path)
    assert ev.tolist() == [(3, 33, 1, 327938), (0, 0, 0, 2**23 - 1)]
    path.write_bytes(b"")
    assert read_nmnist_events(path).shape == (0,)


@pytest.mark.parametrize("extra", [1, 2, 3, 4])
def test_read_truncated(tmp_path, extra):
    path = tmp_path / "bad.bin"
    path.write_bytes(encode_events([(1, 2, 0, 5), (3, 4, 1, 6)])[:10 - 5 + extra])
    with pytest.raises(ValueError, match=rf"bad\.bin.*{5 + extra} bytes, not a multiple of 5.*{extra} trailing"):
        read_nmnist_events(path)


def test_read_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"N-MNIST event file .*nope\.bin.* not found"):
        read_nmnist_events(tmp_path / "nope.bin")


# --------------------------------------------------------------------------------------------- ANTLR binning
def test_antlr_hand_case():
    rows = [(1, 2, 1, 0), (1, 2, 1, 999), (0, 0, 0, 1000), (33, 33, 0, 299_999), (5, 5, 0, 300_000), (6, 6, 0, 5)]
    F = nmnist_frames_antlr(make_events(rows))
    assert F.shape == (300, 2312) and F.dtype == np.uint8
    assert F[0, 1156 + 1 * 34 + 2] == 1  # two events in bin 0 of one channel -> binary 1
    assert F[1, 0] == 1 and F[299, 33 * 34 + 33] == 1
    assert F.sum() == 3  # reading stopped at ts = 300000: (5,5) and the later (6,6, ts=5) are ignored
    # T = 200: 1.5 ms bins
    F = nmnist_frames_antlr(make_events([(0, 0, 0, 1499), (0, 1, 0, 1500), (0, 2, 0, 299_999)]), T=200)
    assert F[0, 0] == 1 and F[1, 1] == 1 and F[199, 2] == 1 and F.sum() == 3


@given(small_rows, st.sampled_from([1, 7, 30, 200, 300]), st.booleans())
@example([(0, 0, 0, 300_000), (0, 0, 0, 1)], 300, False)
def test_antlr_matches_naive(rows, T, single):
    F = nmnist_frames_antlr(make_events(rows), T=T, single_spike=single)
    np.testing.assert_array_equal(F, naive_antlr(rows, T=T, single_spike=single))


def test_antlr_window_and_single_spike():
    rows = [(2, 3, 0, 10), (2, 3, 0, 20_000), (2, 3, 1, 30_000), (2, 3, 0, 40_000)]
    F = nmnist_frames_antlr(make_events(rows), T=100, window_us=100_000)  # 1 ms bins
    assert F[:, 2 * 34 + 3].nonzero()[0].tolist() == [0, 20, 40]
    S = nmnist_frames_antlr(make_events(rows), T=100, window_us=100_000, single_spike=True)
    assert S[:, 2 * 34 + 3].nonzero()[0].tolist() == [0]  # first event of the channel only
    assert S[:, 1156 + 2 * 34 + 3].nonzero()[0].tolist() == [30]  # other polarity = other channel
    assert nmnist_frames_antlr(make_events([]), T=3).shape == (3, 2312)


# --------------------------------------------------------------------------------------------- TSSL-BP binning
def test_tssl_hand_case():
    rows = [(0, 0, 0, 1), (0, 1, 0, 3000), (0, 2, 0, 3001), (0, 3, 0, 0), (0, 4, 0, 29 * 3000), (0, 5, 0, 29 * 3000 + 1)]
    F = nmnist_frames_tssl(make_events(rows), T=30)
    assert F.shape == (30, 2312) and F.dtype == np.uint8
    assert F[0, 0] == 1 and F[0, 1] == 1 and F[1, 2] == 1  # ceil(1/3000)=1, ceil(3000/3000)=1, ceil(3001/3000)=2
    assert F[28, 4] == 1  # bin 29 -> index 28
    assert F[:, 3].sum() == 0 and F[:, 5].sum() == 0  # ts = 0 dropped by default; bin 30 >= T dropped
    assert F[29].sum() == 0 and F.sum() == 4
    Q = nmnist_frames_tssl(make_events(rows), T=30, ts0_last=True)
    assert Q[29, 3] == 1 and Q.sum() == 5  # the quirk: ts = 0 lands in the last step


def test_tssl_channel_stops_at_first_late_bin():
    # channel (1, 1, p=1) has a late event first: its later early event is cut; channel (1, 2) is unaffected
    rows = [(1, 1, 1, 100 * 3000), (1, 1, 1, 3000), (1, 2, 1, 3000)]
    F = nmnist_frames_tssl(make_events(rows), T=10)
    assert F[:, 1156 + 35].sum() == 0 and F[0, 1156 + 36] == 1


@given(small_rows, st.sampled_from([1, 2, 30, 100]), st.booleans(), st.sampled_from([1000, 3000]))
@example([(0, 0, 0, 0)], 1, True, 3000)
def test_tssl_matches_naive(rows, T, ts0_last, bin_us):
    F = nmnist_frames_tssl(make_events(rows), T=T, bin_us=bin_us, ts0_last=ts0_last)
    np.testing.assert_array_equal(F, naive_tssl(rows, T=T, bin_us=bin_us, ts0_last=ts0_last))


def test_frames_validation():
    with pytest.raises(ValueError, match=r"events\[1\] has x = 34, outside \[0, 33\]"):
        nmnist_frames_antlr(make_events([(0, 0, 0, 1), (34, 0, 0, 2)]))
    with pytest.raises(ValueError, match=r"events\[0\] has p = 2, outside \[0, 1\]"):
        nmnist_frames_tssl(make_events([(0, 0, 2, 1)]))
    with pytest.raises(ValueError, match=r"fields x, y, p, ts"):
        nmnist_frames_tssl(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="T must be >= 1; got 0"):
        nmnist_frames_antlr(make_events([]), T=0)
    with pytest.raises(ValueError, match="bin_us must be >= 1; got 0"):
        nmnist_frames_tssl(make_events([]), bin_us=0)


# --------------------------------------------------------------------------------------------- data set loading
def _make_tree(root, spec):
    """spec: {split_dir: [(digit, name, rows), ...]}; creates all ten digit folders."""
    for split_dir, files in spec.items():
        for d in range(10):
            (root / split_dir / str(d)).mkdir(parents=True, exist_ok=True)
        for digit, name, rows in files:
            (root / split_dir / str(digit) / name).write_bytes(encode_events(rows))


def test_load_nmnist(tmp_path):
    a = [(1, 1, 0, 500), (2, 2, 1, 4000)]
    b = [(3, 3, 1, 0), (4, 4, 0, 299_999)]
    c = [(5, 5, 0, 7000)]
    _make_tree(tmp_path, {"Train": [(7, "00003.bin", a), (2, "00001.bin", b), (0, "00010.bin", c)],
                          "Test": [(9, "00001.bin", c)]})
    files = nmnist_files(tmp_path, "train")
    assert [(f.name, d) for f, d in files] == [("00001.bin", 2), ("00003.bin", 7), ("00010.bin", 0)]
    frames, labels = load_nmnist(tmp_path, "train")
    assert frames.shape == (3, 300, 2312) and frames.dtype == np.uint8 and labels.dtype == np.int64
    assert labels.tolist() == [2, 7, 0]
    for i, rows in enumerate([b, a, c]):
        np.testing.assert_array_equal(frames[i], naive_antlr(rows))
    frames, labels = load_nmnist(tmp_path, "train", binning="tssl", limit=2, ts0_last=True)
    assert frames.shape == (2, 30, 2312) and labels.tolist() == [2, 7]
    np.testing.assert_array_equal(frames[0], naive_tssl(b, ts0_last=True))
    frames, labels = load_nmnist(tmp_path, "test", binning="antlr", T=10, single_spike=True, window_us=10_000)
    assert frames.shape == (1, 10, 2312) and labels.tolist() == [9]
    assert frames[0, 7, 5 * 34 + 5] == 1


def test_load_nmnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"N-MNIST split folder .*Train.* not found.*Train/<digit>/\*\.bin"):
        load_nmnist(tmp_path)
    (tmp_path / "Train" / "0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"digit folder .*1.* not found.*folders 0\.\.9"):
        load_nmnist(tmp_path)
    _make_tree(tmp_path, {"Train": [(4, "00001.bin", [(0, 0, 0, 1)]), (5, "00002.bin", [(40, 0, 0, 1)])]})
    with pytest.raises(ValueError, match=r"N-MNIST file .*00002\.bin.*x = 40, outside"):
        load_nmnist(tmp_path)
    with pytest.raises(ValueError, match=r"limit \(3\) exceeds the number of N-MNIST train files found \(2\)"):
        load_nmnist(tmp_path, limit=3)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bin_us'\]"):
        load_nmnist(tmp_path, binning="antlr", bin_us=3000)
    with pytest.raises(ValueError, match=r"binning must be one of \['antlr', 'tssl'\]; got 'slayer'"):
        load_nmnist(tmp_path, binning="slayer")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        load_nmnist(tmp_path, split="val")
    (tmp_path / "Train" / "4" / "00001.bin").write_bytes(b"\x00\x00\x00")
    with pytest.raises(ValueError, match=r"00001\.bin.*not a multiple of 5"):
        load_nmnist(tmp_path, limit=1)
