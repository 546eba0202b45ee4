"""The datasets that ship with the installed packages or are made here: scikit-learn's 8x8
digits (read from its bundled file) and a seeded Gaussian mixture (for fast tests)."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..config import NUM_CLASSES


@lru_cache(maxsize=1)
def sklearn_version() -> str:
    """The installed scikit-learn's version, read from its metadata without importing it (slow);
    the bundled digits are as that version ships them. Read once a process (2 ms a read)."""
    from importlib.metadata import version

    return version("scikit-learn")


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: pixels (1797, 64) in 0..16 and labels (1797,).

    Read from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``, one image
    a row, label last) without importing scikit-learn, whose import takes 1.2-1.7 s here, more
    than training the app's default network; ``sklearn.datasets.load_digits`` reads the same
    file (a test checks they agree) and is used if the file is not where it is expected.
    """
    from importlib.util import find_spec

    spec = find_spec("sklearn")  # locates the package without running its __init__
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target.astype(np.int64)


def load_digits():
    pixels, y = digits_arrays()
    x = (pixels.astype(np.float32) / 16.0 - 0.5) / 0.5
    order = np.random.default_rng(12345).permutation(len(x))  # fixed split, independent of seed
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def make_synthetic(seed: int, dim: int, n_train: int):
    """A seeded mixture of 10 Gaussians in ``synthetic_dim`` dimensions (one per class)."""
    rng = np.random.default_rng(seed + 1_000_003)
    centers = rng.normal(size=(NUM_CLASSES, dim)) * 1.5
    n_test = 1000
    y = rng.integers(0, NUM_CLASSES, size=n_train + n_test)
    x = centers[y] + rng.normal(size=(len(y), dim))
    x = x.astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
