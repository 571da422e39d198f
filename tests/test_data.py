"""MNIST / IDX reading (snnref.data.idx) and the spike-train task (snnref.data.tasks)."""
import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import snnref
import snnref.data
from snnref.data import (MNIST_SHA256, SpikeTrainTask, default_data_dir, load_fashion_mnist, load_mnist, read_idx,
                         spike_train_task)

REPO_MNIST = Path(snnref.__file__).resolve().parents[1] / "data" / "mnist"

# Class frequencies of the official MNIST splits (LeCun et al.; widely tabulated, independent of snnref).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def write_idx(path, arr, code=None, gz=False, extra=b"", cut=0):
    """Independent IDX writer (struct, big-endian) for the tests."""
    arr = np.asarray(arr)
    code = _CODES[arr.dtype.type] if code is None else code
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    body = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    raw = header + body + extra
    if cut:
        raw = raw[:-cut]
    path = Path(path)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return raw


# --------------------------------------------------------------------------------------------- shipped MNIST
@pytest.fixture(scope="module")
def mnist_train():
    return load_mnist("train")


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist("test")


def test_train_counts_and_labels(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    np.testing.assert_array_equal(np.bincount(labels), TRAIN_COUNTS)
    np.testing.assert_array_equal(labels[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    assert images.flags.c_contiguous and images.flags.writeable


def test_test_counts_and_labels(mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(labels), TEST_COUNTS)
    np.testing.assert_array_equal(labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


def test_images_match_independent_parse(mnist_test):
    """Compare with a direct struct-based parse of the shipped gz file (no snnref code)."""
    raw = gzip.decompress((REPO_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert (magic, n, rows, cols) == (2051, 10000, 28, 28)
    first = np.frombuffer(raw[16:16 + 3 * 784], dtype=np.uint8).reshape(3, 28, 28)
    last = np.frombuffer(raw[-784:], dtype=np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(mnist_test[0][:3], first)
    np.testing.assert_array_equal(mnist_test[0][-1], last)
    assert hashlib.sha256(raw).hexdigest() == MNIST_SHA256["t10k-images-idx3-ubyte"]


def test_sha_constants_match_readme():
    text = (REPO_MNIST / "README.md").read_text()
    for name, sha in MNIST_SHA256.items():
        line = next(row for row in text.splitlines() if row.startswith(f"| {name}"))
        assert sha in line


def test_limit_is_prefix(mnist_test):
    images, labels = load_mnist("test", limit=7)
    np.testing.assert_array_equal(images, mnist_test[0][:7])
    np.testing.assert_array_equal(labels, mnist_test[1][:7])
    images, labels = load_mnist("test", limit=7, verify=False)  # prefix-only decompression
    np.testing.assert_array_equal(images, mnist_test[0][:7])
    np.testing.assert_array_equal(labels, mnist_test[1][:7])
    images, labels = load_mnist("test", limit=10000, verify=False)
    assert images.shape[0] == 10000


@pytest.mark.parametrize("verify", [True, False])
def test_limit_too_large(verify):
    with pytest.raises(ValueError, match=r"limit \(10001\) exceeds the number of samples in the test split \(10000\)"):
        load_mnist("test", limit=10001, verify=verify)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'valid'"):
        load_mnist("valid")
    with pytest.raises(ValueError, match="limit must be >= 1; got 0"):
        load_mnist("test", limit=0)
    with pytest.raises(TypeError, match="limit must be an integer; got 2.5"):
        load_mnist("test", limit=2.5)


# --------------------------------------------------------------------------------------------- data dir
def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SNNREF_DATA_DIR", raising=False)
    assert default_data_dir() == Path(snnref.data.__file__).resolve().parent       # package data
    assert (default_data_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    monkeypatch.setenv("SNNREF_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.setenv("SNNREF_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="SNNREF_DATA_DIR points to .*nope.*not a directory"):
        default_data_dir()


def test_env_dir_is_used(monkeypatch, tmp_path):
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("SNNREF_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*not found.*SNNREF_DATA_DIR"):
        load_mnist("test")


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither .*t10k-images-idx3-ubyte\.gz.* nor .*exists.*SNNREF_DATA_DIR"):
        load_mnist("test", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"IDX file .*foo\.idx.* not found.*SNNREF_DATA_DIR"):
        read_idx(tmp_path / "foo.idx")


# --------------------------------------------------------------------------------------------- corrupt copies
def _copy_test_split(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(REPO_MNIST / name, folder / name)
    return folder


def test_sha_mismatch_modified_copy(tmp_path, mnist_test):
    folder = _copy_test_split(tmp_path)
    assert load_mnist("test", data_dir=tmp_path, limit=3)[1].tolist() == [7, 2, 1]  # intact copy passes
    labels_gz = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels_gz.read_bytes()))
    raw[8] = 3  # first label 7 -> 3: still a valid IDX file
    labels_gz.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match=r"SHA-256 of the uncompressed data is [0-9a-f]{64}.*corrupt or modified copy"
                                         r".*[Rr]e-copy"):
        load_mnist("test", data_dir=tmp_path)
    images, labels = load_mnist("test", data_dir=tmp_path, verify=False)  # opt-out reads the modified data
    assert labels[0] == 3 and labels[1] == mnist_test[1][1]
    with pytest.raises(ValueError, match="corrupt or modified copy"):
        read_idx(labels_gz, sha256=MNIST_SHA256["t10k-labels-idx1-ubyte"])
    np.testing.assert_array_equal(read_idx(labels_gz), labels.astype(np.uint8))


def test_truncated_and_corrupt_gzip(tmp_path):
    folder = _copy_test_split(tmp_path)
    labels_gz = folder / "t10k-labels-idx1-ubyte.gz"
    good = labels_gz.read_bytes()
    labels_gz.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"not a valid gzip file or is truncated.*[Rr]e-copy"):
        load_mnist("test", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"not a valid gzip file or is truncated"):
        load_mnist("test", data_dir=tmp_path, verify=False)
    bad = bytearray(good)
    bad[len(bad) // 2: len(bad) // 2 + 16] = b"\xff" * 16
    labels_gz.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"not a valid gzip file or is truncated"):
        read_idx(labels_gz)
    labels_gz.write_bytes(b"definitely not gzip data")
    with pytest.raises(ValueError, match=r"not a valid gzip file"):
        read_idx(labels_gz)


def test_prefers_gz_and_reads_raw(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    imgs = np.arange(2 * 784, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", imgs, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", imgs[:1])  # raw copy with a different content
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([3, 9], np.uint8))  # raw only
    images, labels = load_fashion_mnist("test", data_dir=tmp_path)
    np.testing.assert_array_equal(images, imgs)  # the .gz (2 samples) was chosen
    np.testing.assert_array_equal(labels, [3, 9])
    assert labels.dtype == np.int64


def test_fashion_structure_checks(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    imgs = np.zeros((3, 28, 28), np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", imgs, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1], np.uint8), gz=True)
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_fashion_mnist("train", data_dir=tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 10], np.uint8), gz=True)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\); found 10"):
        load_fashion_mnist("train", data_dir=tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2], np.uint8), gz=True)
    assert load_fashion_mnist("train", data_dir=tmp_path, limit=2)[1].tolist() == [0, 1]
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 32, 32), np.uint8), gz=True)
    with pytest.raises(ValueError, match=r"images must be uint8 of shape \(N, 28, 28\); got uint8 \(3, 32, 32\)"):
        load_fashion_mnist("train", data_dir=tmp_path)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.float32), gz=True)
    with pytest.raises(ValueError, match=r"images must be uint8.*got float32"):
        load_fashion_mnist("train", data_dir=tmp_path)
    write_idx(folder / "train-images-idx3-ubyte.gz", imgs, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros((3, 1), np.uint8), gz=True)
    with pytest.raises(ValueError, match=r"labels must be uint8 of shape \(N,\)"):
        load_fashion_mnist("train", data_dir=tmp_path)


# --------------------------------------------------------------------------------------------- IDX parsing
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 1, 4), ()])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, rng, dtype, shape, gz):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        arr = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_idx_hand_written_header(tmp_path):
    # magic 0x00000803 (ubyte, 3 dims), dims 1 x 2 x 2, then 4 pixels
    path = tmp_path / "tiny"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 250]))
    np.testing.assert_array_equal(read_idx(path), [[[1, 2], [3, 250]]])
    # int16 big-endian: 0x0102 = 258, 0xFFFE = -2
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 2, 0xFF, 0xFE]))
    np.testing.assert_array_equal(read_idx(path), [258, -2])
    # float32 big-endian 1.5 = 0x3FC00000
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0]))
    assert read_idx(path).tolist() == [1.5]


def test_idx_errors(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(ValueError, match=r"wrong IDX magic number \(first bytes 01000801.*not an IDX file"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(ValueError, match=r"unknown IDX dtype code 0x0A"):
        read_idx(path)
    path.write_bytes(bytes([0, 0]))
    with pytest.raises(ValueError, match=r"too short to be an IDX file \(2 bytes"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0]))
    with pytest.raises(ValueError, match=r"truncated inside the IDX header"):
        read_idx(path)
    write_idx(path, np.zeros((4, 3), np.int32), cut=5)
    with pytest.raises(ValueError, match=r"truncated: its header announces shape \(4, 3\) of int32 \(48 data bytes\) "
                                         r"but only 43 bytes follow"):
        read_idx(path)
    write_idx(path, np.zeros((4, 3), np.int32), extra=b"xy")
    with pytest.raises(ValueError, match=r"2 unexpected bytes after the 48 data bytes"):
        read_idx(path)
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7])))
    with pytest.raises(ValueError, match=r"gzip-compressed: give the file a '\.gz' suffix"):
        read_idx(path)


# --------------------------------------------------------------------------------------------- spike-train task
def test_spike_train_task_shapes_and_targets():
    task = spike_train_task(n_inputs=7, n_hidden=5, n_outputs=3, T=20, input_rate=0.2, n_target_spikes=4,
                            batch=2, rng=1)
    assert isinstance(task, SpikeTrainTask)
    assert task.x.shape == (20, 2, 7) and task.target.shape == (20, 2, 3)
    assert task.x.dtype == np.float64 and task.target.dtype == np.float64
    assert set(np.unique(task.x)) <= {0.0, 1.0} and set(np.unique(task.target)) <= {0.0, 1.0}
    np.testing.assert_array_equal(task.target.sum(axis=0), np.full((2, 3), 4.0))  # 4 distinct times each
    assert task.sizes == (7, 5, 3) and task.T == 20 and task.B == 2
    assert task["x"] is task.x and task["target"] is task.target
    with pytest.raises(KeyError, match="no field 'y'"):
        task["y"]
    assert spike_train_task(n_hidden=0, T=10, rng=0).sizes == (100, 1)


def test_spike_train_task_reproducible():
    a = spike_train_task(T=30, batch=2, rng=123)
    b = spike_train_task(T=30, batch=2, rng=np.random.default_rng(123))
    c = spike_train_task(T=30, batch=2, rng=124)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.target, b.target)
    assert not (np.array_equal(a.x, c.x) and np.array_equal(a.target, c.target))
    # documented draw order: inputs first, then one choice per (b, k)
    gen = np.random.default_rng(123)
    x = (gen.random((30, 2, 100)) < 0.05).astype(np.float64)
    np.testing.assert_array_equal(a.x, x)
    np.testing.assert_array_equal(np.flatnonzero(a.target[:, 0, 0]), np.sort(gen.choice(30, 5, replace=False)))


def test_spike_train_task_statistics():
    # input rate: n = 200*10*50 = 1e5 Bernoulli(0.05) draws, std of the mean = sqrt(p(1-p)/n) = 6.9e-4; allow 5 std
    task = spike_train_task(n_inputs=50, T=200, input_rate=0.05, batch=10, rng=0)
    p, n = 0.05, task.x.size
    assert abs(task.x.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # target times uniform over [0, T-1]: each step is chosen with probability k/T = 0.3; over 4000 trains the
    # count per step is Binomial(4000, 0.3): mean 1200, std 29; allow 5 std
    task = spike_train_task(n_inputs=1, n_outputs=2, T=10, n_target_spikes=3, batch=2000, rng=0)
    per_step = task.target.sum(axis=(1, 2))
    assert np.all(np.abs(per_step - 1200) < 5 * np.sqrt(4000 * 0.3 * 0.7))
    full = spike_train_task(n_inputs=1, T=6, n_target_spikes=6, input_rate=0.0, rng=0)
    assert full.target.all() and not full.x.any()
    assert not spike_train_task(n_inputs=1, T=6, n_target_spikes=0, rng=0).target.any()


def test_spike_train_task_errors():
    with pytest.raises(ValueError, match=r"n_target_spikes \(11\) must be <= T \(10\)"):
        spike_train_task(T=10, n_target_spikes=11)
    with pytest.raises(ValueError, match=r"input_rate must be in \[0, 1\]; got 1.5"):
        spike_train_task(input_rate=1.5)
    with pytest.raises(ValueError, match="batch must be >= 1; got 0"):
        spike_train_task(batch=0)
    with pytest.raises(TypeError, match="T must be an integer; got 10.0"):
        spike_train_task(T=10.0)
    with pytest.raises(ValueError, match="n_hidden must be >= 0; got -1"):
        spike_train_task(n_hidden=-1)
