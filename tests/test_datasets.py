"""Fashion-MNIST and CIFAR-10 through the verified path, on small files the tests write in each
format (never the network): the official checksums are swapped for the test files' own, so the
reading, pooling, standardisation, shapes and refusals are what is tested."""

import hashlib
import pickle

import numpy as np
import pytest
import torch

from core import pipeline, workspace
from core.config import ConfigError, ExperimentConfig
from core.data import available, images, load_dataset
from core.models import build_model, model_inputs
from core.shapes import image_shape, num_params
from test_data import _write_idx


@pytest.fixture
def offline(monkeypatch):
    def refuse(*_):
        raise AssertionError("a run tried to download")

    monkeypatch.setattr(images, "download", refuse)


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_fashion(data_dir, monkeypatch, n_train=60, n_test=20, seed=0):
    """Four ``.gz`` IDX files of random 28x28 images in ``FashionMNIST/raw``, accepted as official."""
    rng = np.random.default_rng(seed)
    raw = images.folder(data_dir, "fashion-mnist")
    raw.mkdir(parents=True)
    table = {}
    for split, n in (("train", n_train), ("test", n_test)):
        pictures, labels = images.FASHION_SPLITS[split]
        _write_idx(raw / pictures, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / labels, np.arange(n) % 10)
        table.update({pictures: _md5(raw / pictures), labels: _md5(raw / labels)})
    monkeypatch.setattr(images, "FASHION_MD5", table)
    return raw


def write_cifar(data_dir, monkeypatch, per_batch=12, seed=0):
    """The six pickled batches of the python archive, random 3x32x32 images, accepted as official."""
    rng = np.random.default_rng(seed)
    where = images.folder(data_dir, "cifar10")
    where.mkdir(parents=True)
    table = {}
    for stem in images.CIFAR10_MD5:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(i % 10) for i in range(per_batch)]}
        (where / stem).write_bytes(pickle.dumps(batch))
        table[stem] = _md5(where / stem)
    monkeypatch.setattr(images, "CIFAR10_MD5", table)
    return where


def test_fashion_mnist_is_read_pooled_and_standardised_from_its_verified_files(tmp_path, monkeypatch, offline):
    write_fashion(tmp_path, monkeypatch)
    assert available("fashion-mnist", tmp_path)
    found = load_dataset(ExperimentConfig(dataset="fashion-mnist", input_size=14, train_subset=60,
                                          hessian_batch_size=10), data_dir=tmp_path)
    assert found.dataset_used == "fashion-mnist" and found.notice is None
    assert found.x_train.shape == (60, 196) and found.x_test.shape == (20, 196)
    raw = images.read_fashion_split(tmp_path, "test")[0][:, 0].astype(np.float32) / 255
    pooled = raw.reshape(20, 14, 2, 14, 2).mean(axis=(2, 4))
    expected = (pooled - images.FASHION_MEAN) / images.FASHION_STD
    assert np.allclose(found.x_test.numpy().reshape(20, 14, 14), expected, atol=1e-5)


def test_a_fashion_file_that_fails_its_checksum_or_comes_uncompressed_is_named_and_digits_are_used(
        tmp_path, monkeypatch, offline):
    raw = write_fashion(tmp_path, monkeypatch)
    monkeypatch.setitem(images.FASHION_MD5, "t10k-labels-idx1-ubyte.gz", "0" * 32)
    found = load_dataset(ExperimentConfig(dataset="fashion-mnist", hessian_batch_size=10), data_dir=tmp_path)
    assert found.dataset_used == "digits"
    assert "t10k-labels-idx1-ubyte.gz: does not match the official checksum" in found.notice
    assert "python -m core data download --dataset fashion-mnist" in found.notice
    (raw / "train-images-idx3-ubyte.gz").rename(raw / "train-images-idx3-ubyte")
    found = load_dataset(ExperimentConfig(dataset="fashion-mnist", hessian_batch_size=10), data_dir=tmp_path)
    assert "an uncompressed copy cannot be checked against the official MD5" in found.notice
    assert not available("fashion-mnist", tmp_path)


def test_cifar10_is_read_channel_major_and_its_pickles_are_unpickled_only_after_their_checksum(
        tmp_path, monkeypatch, offline):
    where = write_cifar(tmp_path, monkeypatch)
    config = ExperimentConfig(dataset="cifar10", input_size=7, train_subset=60, hessian_batch_size=10)
    found = load_dataset(config, data_dir=tmp_path)
    assert found.dataset_used == "cifar10" and found.x_train.shape == (60, 3 * 8 * 8)
    assert config.input_dim("cifar10") == 192 and image_shape(192) == (3, 8)
    raw = images.read_cifar_split(tmp_path, "test")[0].astype(np.float32) / 255  # (12, 3, 32, 32)
    pooled = raw.reshape(12, 3, 8, 4, 8, 4).mean(axis=(3, 5))
    expected = (pooled - np.array(images.CIFAR10_MEAN)[:, None, None]) / np.array(images.CIFAR10_STD)[:, None, None]
    assert np.allclose(found.x_test.numpy().reshape(12, 3, 8, 8), expected, atol=1e-5)

    class Planted:  # what an unchecked unpickle of a planted file would run
        def __reduce__(self):
            return (pytest.fail, ("a file that failed its checksum was unpickled",))

    (where / "test_batch").write_bytes(pickle.dumps(Planted()))
    found = load_dataset(config, data_dir=tmp_path)
    assert found.dataset_used == "digits" and "test_batch: does not match the official checksum" in found.notice


@pytest.mark.parametrize("architecture, hidden", [("cnn", (4,)), ("resnet", (3,)), ("transformer", (6,)),
                                                  ("mlp", (5,))])
def test_every_architecture_takes_cifar10s_three_channels(tmp_path, monkeypatch, offline, architecture, hidden):
    write_cifar(tmp_path, monkeypatch)
    config = ExperimentConfig(dataset="cifar10", architecture=architecture, hidden=hidden, input_size=7,
                              train_subset=60, hessian_batch_size=10, epochs=1)
    data = load_dataset(config, data_dir=tmp_path)
    model = build_model(config, data.input_dim, 10)
    x = model_inputs(config, data.x_train[:4])
    assert model(x).shape == (4, 10) and num_params(config, data.input_dim, 10) == sum(p.numel() for p in model.parameters())
    if architecture == "transformer":  # token t: row t of every channel
        image = data.x_train[0].reshape(3, 8, 8)
        assert torch.equal(x[0, 2], torch.cat([image[c, 2] for c in range(3)]))
    with workspace.using(data_dir=tmp_path, cache_dir=tmp_path / "cache"):
        exact = pipeline.run(config, "exact_hessian")
    assert exact.ok and abs(exact.trace - exact.spectrum.sum()) < 1e-3 * max(1.0, abs(exact.trace))


def test_missing_files_fall_back_to_the_digits_and_say_where_they_were_looked_for(tmp_path, offline):
    for name, label in (("fashion-mnist", "Fashion-MNIST"), ("cifar10", "CIFAR-10")):
        found = load_dataset(ExperimentConfig(dataset=name, hessian_batch_size=10), data_dir=tmp_path)
        assert found.dataset_used == "digits" and f"{label} is not available in {images.folder(tmp_path, name)}" in \
            found.notice and "missing" in found.notice


def test_the_cli_checks_a_datasets_files_and_refuses_an_unknown_one(tmp_path, monkeypatch, capsys):
    import argparse

    from core.cli import commands
    from core.cli.parser import build_parser

    write_fashion(tmp_path, monkeypatch)
    with workspace.using(data_dir=tmp_path):
        assert commands.data(argparse.Namespace(action="check", dataset="fashion-mnist")) == 0
        out = capsys.readouterr().out
        assert "train split: 60 images, verified" in out and "test split: 20 images, verified" in out
        assert commands.data(argparse.Namespace(action="check", dataset="cifar10")) == 0
        assert "train split: missing" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["data", "check", "--dataset", "imagenet"])
