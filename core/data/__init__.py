"""Datasets: one table from a name to its source (reader, fingerprint, fallback).

* ``mnist``: raw IDX files, verified (:mod:`.mnist`); when no MNIST can be had, scikit-learn's
  bundled 8x8 digits instead, and :attr:`Dataset.notice` says which files were found and which
  were missing or bad;
* ``fashion-mnist``, ``cifar10``: their published files, verified (:mod:`.images`), falling back
  to the digits as MNIST does;
* ``digits``: scikit-learn's bundled 8x8 digits (:mod:`.bundled`);
* ``synthetic``: a seeded Gaussian mixture (:mod:`.bundled`).

Adding a dataset is one :data:`SOURCES` entry (a reader returning the arrays and what was used,
and a fingerprint of what it read) plus its reader and test. Nothing here creates the data
directory, which is ``data_dir`` if given, else the workspace's (:mod:`core.workspace`:
``$HESSIAN_DATA_DIR``, else ``./data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import workspace
from ..config import NATIVE_SIZE, NUM_CLASSES, ConfigError, ExperimentConfig
from ..workspace import DATA_DIR_ENV
from . import images
from .bundled import digits_arrays, load_digits, make_synthetic, sklearn_version
from .mnist import (MNIST_SHA256, DataFileError, check_mnist_file, download_mnist, file_digest, load_mnist,
                    mnist_available, mnist_files, read_idx, read_mnist_split)

__all__ = ["MNIST_SHA256", "SOURCES", "DataFileError", "Dataset", "check_mnist_file", "digits_arrays",
           "download_mnist", "file_digest", "fingerprint", "load_dataset", "mnist_available", "mnist_files",
           "read_idx", "read_mnist_split"]


@dataclass
class Dataset:
    """Flattened float32 inputs and int64 labels, split into train and held-out test.

    ``dataset_used`` is what was really loaded (``mnist``, ``mnist-t10k``, ``digits`` or
    ``synthetic``); ``notice`` explains any substitution in words for a person.
    """

    x_train: "torch.Tensor"
    y_train: "torch.Tensor"
    x_test: "torch.Tensor"
    y_test: "torch.Tensor"
    dataset_used: str
    notice: str | None = None
    num_classes: int = NUM_CLASSES

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])



#: what a reader returns: train inputs and labels, held-out inputs and labels, the dataset used, a notice
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, "str | None"]


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from: ``read(config, data_dir) -> Arrays`` (flattened float32
    inputs, int64 labels) and ``fingerprint(config, data_dir) -> str`` of what it reads."""

    read: Callable[[ExperimentConfig, Path], Arrays]
    fingerprint: Callable[[ExperimentConfig, Path], str]


def _read_mnist(config: ExperimentConfig, data_dir: Path) -> Arrays:
    loaded = load_mnist(config.input_size, data_dir)
    if len(loaded) == 2:
        notice = (f"MNIST is not available in {data_dir / 'MNIST' / 'raw'} ({loaded[1]}), so scikit-learn's "
                  "bundled 8x8 digits are used instead. Put the MNIST files there, set $" + DATA_DIR_ENV +
                  ", or run `python -m core data download` with a network.")
        return (*load_digits(), "digits", notice)
    return loaded


def _mnist_fingerprint(config: ExperimentConfig, data_dir: Path) -> str:
    parts = []
    for stem, path in mnist_files(data_dir).items():
        try:
            parts.append(f"{stem}={file_digest(path)[:16] if path else 'absent'}")
        except DataFileError:
            parts.append(f"{stem}=unreadable")
    return "mnist:" + ",".join(parts) + f";fallback scikit-learn {sklearn_version()}"


def _fallback(name: str, where: Path, reason: str) -> Arrays:
    notice = (f"{name} is not available in {where} ({reason}), so scikit-learn's bundled 8x8 digits are used "
              f"instead. Put the files there, set ${DATA_DIR_ENV}, or run `python -m core data download --dataset "
              f"{name.lower()}` with a network.")
    return (*load_digits(), "digits", notice)


def _read_images(name: str):
    """The reader of a file dataset of :mod:`.images`, falling back to the 8x8 digits as MNIST does."""
    label = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}[name]

    def read(config: ExperimentConfig, data_dir: Path) -> Arrays:
        loaded = images.load(name, NATIVE_SIZE["mnist"] // config.input_size, data_dir)
        if len(loaded) == 2:
            return _fallback(label, images.folder(data_dir, name), loaded[1])
        return loaded

    return read


def _images_fingerprint(name: str):
    def fingerprint_of(config: ExperimentConfig, data_dir: Path) -> str:
        parts = []
        for stem, path in images.files(name, data_dir).items():
            try:
                parts.append(f"{stem}={file_digest(path)[:16] if path else 'absent'}")
            except DataFileError:
                parts.append(f"{stem}=unreadable")
        return f"{name}:" + ",".join(parts) + f";fallback scikit-learn {sklearn_version()}"

    return fingerprint_of


def available(name: str, data_dir: Path) -> bool:
    """Whether file dataset ``name`` can be read from ``data_dir`` (its files present and official)."""
    if name == "mnist":
        return mnist_available(data_dir)
    return images.available(name, data_dir)


#: dataset name -> its source (the names are :data:`core.config.DATASETS`)
SOURCES: dict[str, Source] = {
    "mnist": Source(_read_mnist, _mnist_fingerprint),
    "fashion-mnist": Source(_read_images("fashion-mnist"), _images_fingerprint("fashion-mnist")),
    "cifar10": Source(_read_images("cifar10"), _images_fingerprint("cifar10")),
    "digits": Source(lambda config, data_dir: (*load_digits(), "digits", None),
                     lambda config, data_dir: f"digits:scikit-learn {sklearn_version()}"),
    "synthetic": Source(lambda config, data_dir: (*make_synthetic(config.seed, config.synthetic_dim,
                                                                  config.train_subset), "synthetic", None),
                        lambda config, data_dir: "synthetic"),
}


def fingerprint(config: ExperimentConfig, data_dir: str | Path | None = None) -> str:
    """What the loaded data depends on, for cache keys: the digests of the MNIST files found
    (whatever their folder), or the bundled dataset's package version, or the synthetic seed.

    Adding, removing or changing a file changes the fingerprint, so cached results follow the
    data, not the folder's name.
    """
    data_dir = Path(data_dir) if data_dir is not None else workspace.current().data_dir
    return SOURCES[config.dataset].fingerprint(config, data_dir)


def load_dataset(config: ExperimentConfig, data_dir: str | Path | None = None) -> Dataset:
    """Load the configured dataset (its :data:`SOURCES` entry, with its fallback).

    The training part is a seeded random subset of ``config.train_subset`` examples; it must
    hold at least ``config.hessian_batch_size`` examples (the Hessian batch is its head).
    """
    data_dir = Path(data_dir) if data_dir is not None else workspace.current().data_dir
    x_tr, y_tr, x_te, y_te, used, notice = SOURCES[config.dataset].read(config, data_dir)
    if config.num_classes < NUM_CLASSES:  # the first C classes only, in every split
        keep_train, keep_test = y_tr < config.num_classes, y_te < config.num_classes
        x_tr, y_tr, x_te, y_te = x_tr[keep_train], y_tr[keep_train], x_te[keep_test], y_te[keep_test]
    available = len(x_tr)
    order = np.random.default_rng(config.seed).permutation(available)[: config.train_subset]
    x_tr, y_tr = x_tr[order], y_tr[order]
    default_subset = type(config)().train_subset
    if config.train_subset > available and config.train_subset != default_subset:  # asked for more: say so
        short = (f"The training subset asked for (train_subset={config.train_subset:,}) is more than {used} has: all "
                 f"{available:,} of its training examples are used.")
        notice = f"{notice} {short}" if notice else short
    if config.hessian_batch_size > len(x_tr):
        classes = f" of classes 0-{config.num_classes - 1}" if config.num_classes < NUM_CLASSES else ""
        limit = ("" if len(x_tr) < config.train_subset else
                 f"; the training subset is {config.train_subset:,} examples (--train-subset)")
        raise ConfigError("hessian_batch_size", config.hessian_batch_size,
                          f"at most the {len(x_tr):,} training examples{classes} {used} has{limit}: lower the Hessian "
                          f"batch size N to {len(x_tr):,} or less")
    import torch

    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)
    as_y = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))
    return Dataset(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te), used, notice, config.num_classes)
