import gzip
import hashlib

import pytest
import torch

from factories import SHARED_DATA
from core import data as data_module
from core.config import ConfigError, ExperimentConfig
from core.data import load_dataset, read_mnist_split

HAS_SHARED = (SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


@pytest.fixture
def offline(monkeypatch):
    def refuse(_):
        raise OSError("no network here")

    monkeypatch.setattr(data_module, "_download_mnist", refuse)


def test_digits_fallback_when_mnist_absent(tmp_path, offline):
    ds = load_dataset(ExperimentConfig(dataset="mnist"), data_dir=tmp_path)
    assert ds.dataset_used == "digits"
    assert "MNIST is not available" in ds.notice and "digits" in ds.notice
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
