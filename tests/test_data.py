import gzip
import hashlib

import numpy as np
import pytest
import torch

from factories import SHARED_DATA
from core import data as data_module
from core.config import ConfigError, ExperimentConfig
from core.data import load_dataset, read_mnist_split

HAS_SHARED = (SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt fails the test: runs never download on their own."""
    def refuse(*_):
        raise AssertionError("a run tried to download MNIST")

    monkeypatch.setattr(data_module, "download_mnist", refuse)
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", refuse)


def test_digits_fallback_when_mnist_absent(tmp_path, offline):
    ds = load_dataset(ExperimentConfig(dataset="mnist"), data_dir=tmp_path)
    assert ds.dataset_used == "digits"
    assert "MNIST is not available" in ds.notice and "digits" in ds.notice
    assert "missing train-images-idx3-ubyte, train-labels-idx1-ubyte" in ds.notice
    assert not (tmp_path / "MNIST").exists()  # nothing created as a side effect
    assert ds.input_dim == 64 and len(ds.x_train) > 1000 and ds.num_classes == 10


@pytest.mark.skipif(not HAS_SHARED, reason="../shared/data is not beside the project")
def test_real_mnist_test_split_from_shared():
    for gz, md5 in [("t10k-images-idx3-ubyte.gz", "2646ac647ad5339dbf082846283269ea"),
                    ("t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637")]:
        assert hashlib.md5(gzip.open(SHARED_DATA / "MNIST" / "raw" / gz).read()).hexdigest() == md5
    images, labels = read_mnist_split(SHARED_DATA, "test")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert sorted(set(labels.tolist())) == list(range(10))
    assert read_mnist_split(SHARED_DATA, "train") is None


@pytest.mark.skipif(not HAS_SHARED, reason="../shared/data is not beside the project")
def test_mnist_t10k_used_when_only_test_split(offline):
    for size in (28, 14, 7):
        ds = load_dataset(ExperimentConfig(input_size=size, train_subset=8000), data_dir=SHARED_DATA)
        assert ds.dataset_used == "mnist-t10k" and "test split" in ds.notice
        assert ds.input_dim == size * size
        assert len(ds.x_train) == 8000 and len(ds.x_test) == 2000
    assert abs(float(ds.x_train.mean())) < 0.5  # standardised with MNIST's mean and std


def test_synthetic_is_seeded():
    a = load_dataset(ExperimentConfig(dataset="synthetic", train_subset=100, hessian_batch_size=10))
    b = load_dataset(ExperimentConfig(dataset="synthetic", train_subset=100, hessian_batch_size=10))
    c = load_dataset(ExperimentConfig(dataset="synthetic", train_subset=100, hessian_batch_size=10, seed=1))
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)


def test_hessian_batch_larger_than_training_set_is_refused():
    with pytest.raises(ConfigError, match="hessian_batch_size=500 is not allowed: at most the 100"):
        load_dataset(ExperimentConfig(dataset="synthetic", train_subset=100, hessian_batch_size=500))


def _write_idx(path, array):
    import struct

    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())


@pytest.mark.skipif(not HAS_SHARED, reason="../shared/data is not beside the project")
def test_a_file_that_fails_the_checksum_is_named_and_not_used(tmp_path, offline):
    import shutil

    import numpy as np

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz", raw)
    labels = np.random.default_rng(0).integers(0, 10, 10_000)  # random labels: accuracy 0.1 if trusted
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels)
    ds = load_dataset(ExperimentConfig(), data_dir=tmp_path)
    assert ds.dataset_used == "digits"
    assert "t10k-labels-idx1-ubyte.gz: does not match the official MNIST checksum" in ds.notice


@pytest.mark.parametrize("content, words", [
    (b"", "empty or truncated IDX file"),
    (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x05", "wrong magic number"),
    (b"\x12\x34\x08\x01\x00\x00\x00\x05abc", "wrong magic number"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated IDX file (3 of 5 values)"),
    (b"\x1f\x8b\x08\x00garbage", "not readable"),
])
def test_malformed_idx_files_give_one_line_naming_the_file(tmp_path, content, words):
    from core.data import DataFileError, read_idx

    path = tmp_path / ("bad.gz" if content.startswith(b"\x1f\x8b") else "bad")
    path.write_bytes(content)
    with pytest.raises(DataFileError) as info:
        read_idx(path)
    assert str(path) in str(info.value) and words in str(info.value) and "\n" not in str(info.value)


def test_shape_and_label_checks_name_the_file(tmp_path):
    import numpy as np

    from core.data import DataFileError, read_mnist_split

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((3, 20, 20)))
    _write_idx(raw / "t10k-labels-idx1-ubyte", [1, 2, 200])
    with pytest.raises(DataFileError, match="20, 20"):
        read_mnist_split(tmp_path, "test", verify_checksum=False)
    _write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28)))
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte: labels must be one digit 0-9"):
        read_mnist_split(tmp_path, "test", verify_checksum=False)


def test_digits_read_without_sklearn_equal_sklearns_loader():
    from sklearn.datasets import load_digits

    from core.data import digits_arrays

    pixels, labels = digits_arrays()
    reference = load_digits()
    assert pixels.shape == (1797, 64) and labels.dtype == np.int64
    np.testing.assert_array_equal(pixels, reference.data)
    np.testing.assert_array_equal(labels, reference.target)


def test_a_training_subset_larger_than_the_dataset_is_said():
    asked = load_dataset(ExperimentConfig(dataset="digits", train_subset=60_000, hessian_batch_size=100))
    assert "train_subset=60,000" in asked.notice and f"all {len(asked.x_train):,}" in asked.notice
    assert load_dataset(ExperimentConfig(dataset="digits", hessian_batch_size=100)).notice is None


@pytest.mark.skipif(not HAS_SHARED, reason="../shared/data is not beside the project")
def test_a_stray_uncompressed_file_does_not_shadow_the_valid_gz(tmp_path, offline):
    import shutil

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED_DATA / "MNIST" / "raw" / name, raw)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # partial, stray
    ds = load_dataset(ExperimentConfig(), data_dir=tmp_path)
    assert ds.dataset_used == "mnist-t10k"
    assert data_module.mnist_files(tmp_path)["t10k-labels-idx1-ubyte"].name == "t10k-labels-idx1-ubyte.gz"


def test_a_gz_that_inflates_past_any_mnist_file_is_refused_in_a_stream(tmp_path, monkeypatch):
    import tracemalloc

    from core.data import DataFileError, read_idx
    from core.data import mnist

    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 8 * 2**20)  # the cap, scaled down for the test
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as fh:
        for _ in range(64):
            fh.write(bytes(2**20))  # 64 MiB of zeros, about 64 KiB compressed
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    with pytest.raises(DataFileError, match="inflates to more than 8 MiB"):
        read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 24 * 2**20  # stopped at the cap, not inflated whole


@pytest.mark.skipif(not HAS_SHARED, reason="needs the MNIST test split in ../shared/data")
def test_mnist_is_read_once_per_folder_state_and_each_caller_gets_its_own_arrays(tmp_path, offline, monkeypatch):
    """A changed width reads nothing again; a changed file is read again; callers cannot spoil the memo."""
    import os
    import shutil

    from core.data import mnist

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED_DATA / "MNIST" / "raw" / name, raw)
    reads = []
    real = mnist.read_idx
    monkeypatch.setattr(mnist, "read_idx", lambda path: reads.append(path) or real(path))
    first = mnist.load_mnist(28, tmp_path)
    first[0][:] = 0.0  # a caller writing into its arrays
    second = mnist.load_mnist(28, tmp_path)
    assert len(reads) == 2 and float(np.abs(second[0]).sum()) > 0  # images and labels, once
    stat = (raw / "t10k-labels-idx1-ubyte.gz").stat()
    os.utime(raw / "t10k-labels-idx1-ubyte.gz", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = mnist.load_mnist(28, tmp_path)
    assert len(reads) == 4 and np.array_equal(third[1], second[1])
