"""Datasets: MNIST (torchvision or raw IDX files), scikit-learn's 8x8 digits, a synthetic mixture.

MNIST is looked for, in order, as raw IDX files (``.gz`` or not) in ``<data_dir>/MNIST/raw``,
then through ``torchvision.datasets.MNIST(download=True)``. When neither gives the training
split but the test split is there (as in ``../shared/data``), the 10,000 test images are split
80/20 into training and held-out parts and that is recorded. When no MNIST can be had at all
(offline, nothing on disk), scikit-learn's bundled 8x8 digits are used instead and the
fallback is recorded in :attr:`Dataset.notice` so the app and the CLI can say so.

The data directory is ``data_dir`` if given, else the workspace's (:mod:`core.workspace`:
``$HESSIAN_DATA_DIR``, else ``./data``).
"""

from __future__ import annotations

import gzip
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import workspace
from .config import NUM_CLASSES, ConfigError, ExperimentConfig
from .workspace import DATA_DIR_ENV
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class Dataset:
    """Flattened float32 inputs and int64 labels, split into train and held-out test.

    ``dataset_used`` is what was really loaded (``mnist``, ``mnist-t10k``, ``digits`` or
    ``synthetic``); ``notice`` explains any substitution in words for a person.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    dataset_used: str
    notice: str | None = None

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES


# ----------------------------------------------------------------------------- IDX files
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format: magic, dims as big-endian int32, then uint8 data)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated IDX file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def _find_idx(raw_dir: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def read_mnist_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images (n, 28, 28) uint8 and labels (n,) of one split from raw IDX files, or None."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    images, labels = (_find_idx(raw_dir, stem) for stem in _MNIST_FILES[split])
    if images is None or labels is None:
        return None
    x, y = read_idx(images), read_idx(labels)
    if len(x) != len(y):
        raise ValueError(f"{raw_dir}: {len(x)} images but {len(y)} labels in the {split} split")
    return x, y


def _download_mnist(data_dir: Path) -> None:
    """Let torchvision fetch MNIST into ``data_dir`` (fails fast when there is no network)."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        for train in (True, False):
            MNIST(root=str(data_dir), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _pool(images: np.ndarray, size: int) -> np.ndarray:
    """Average-pool (n, 28, 28) images to (n, size, size); size must divide 28."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    factor = images.shape[1] // size
    if factor > 1:
        x = torch.nn.functional.avg_pool2d(x[:, None], factor)[:, 0]
    return ((x - MNIST_MEAN) / MNIST_STD).reshape(len(x), -1).numpy()


def _load_mnist(config: ExperimentConfig, data_dir: Path):
    train = read_mnist_split(data_dir, "train")
    if train is None:
        try:
            _download_mnist(data_dir)
        except Exception:  # offline, blocked, or a broken mirror: handled below
            pass
        train = read_mnist_split(data_dir, "train")
    test = read_mnist_split(data_dir, "test")
    if train is not None and test is not None:
        return (_pool(train[0], config.input_size), train[1],
                _pool(test[0], config.input_size), test[1], "mnist", None)
    if test is not None:
        x, y = _pool(test[0], config.input_size), test[1]
        cut = int(0.8 * len(x))
        notice = (f"MNIST training split not found in {data_dir}; using the official test split "
                  f"instead: {cut} images to train on, {len(x) - cut} held out.")
        return x[:cut], y[:cut], x[cut:], y[cut:], "mnist-t10k", notice
    return None


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data.astype(np.float32) / 16.0 - 0.5) / 0.5
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(12345).permutation(len(x))  # fixed split, independent of seed
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _make_synthetic(config: ExperimentConfig):
    """A seeded mixture of 10 Gaussians in ``synthetic_dim`` dimensions (one per class)."""
    rng = np.random.default_rng(config.seed + 1_000_003)
    centers = rng.normal(size=(NUM_CLASSES, config.synthetic_dim)) * 1.5
    n_train, n_test = config.train_subset, 1000
    y = rng.integers(0, NUM_CLASSES, size=n_train + n_test)
    x = centers[y] + rng.normal(size=(len(y), config.synthetic_dim))
    x = x.astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def load_dataset(config: ExperimentConfig, data_dir: str | Path | None = None) -> Dataset:
    """Load the configured dataset, with the MNIST -> digits fallback described above.

    The training part is a seeded random subset of ``config.train_subset`` examples; it must
    hold at least ``config.hessian_batch_size`` examples (the Hessian batch is its head).
    """
    data_dir = Path(data_dir) if data_dir is not None else workspace.current().data_dir
    notice = None
    if config.dataset == "mnist":
        loaded = _load_mnist(config, data_dir)
        if loaded is None:
            x_tr, y_tr, x_te, y_te = _load_digits()
            used = "digits"
            notice = (f"MNIST is not available (no files in {data_dir / 'MNIST' / 'raw'} and no "
                      "network to download them), so scikit-learn's bundled 8x8 digits are used "
                      "instead. Put MNIST there or set $" + DATA_DIR_ENV + " to use it.")
        else:
            x_tr, y_tr, x_te, y_te, used, notice = loaded
    elif config.dataset == "digits":
        x_tr, y_tr, x_te, y_te = _load_digits()
        used = "digits"
    else:
        x_tr, y_tr, x_te, y_te = _make_synthetic(config)
        used = "synthetic"

    order = np.random.default_rng(config.seed).permutation(len(x_tr))[: config.train_subset]
    x_tr, y_tr = x_tr[order], y_tr[order]
    if config.hessian_batch_size > len(x_tr):
        raise ConfigError("hessian_batch_size", config.hessian_batch_size,
                          f"at most the {len(x_tr)} training examples of {used} "
                          f"(train_subset={config.train_subset})")
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)
    as_y = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))
    return Dataset(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te), used, notice)
