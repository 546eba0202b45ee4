"""Datasets: MNIST (torchvision or raw IDX files), scikit-learn's 8x8 digits, a synthetic mixture.

MNIST is read from raw IDX files (``.gz`` or not) in ``<data_dir>/MNIST/raw``, each checked
against the official SHA-256 of its content and for its shape before use; a bad file is named
and not used. Nothing is downloaded unless asked (:func:`download_mnist`, ``python -m core
data download``). When the training split is not usable but the test split is (as in
``../shared/data``), the 10,000 test images are split 80/20 into training and held-out parts
and that is recorded. When no MNIST can be had, scikit-learn's bundled 8x8 digits are used
instead; :attr:`Dataset.notice` says which files were found and which were missing or bad.
Nothing here creates the data directory.

The data directory is ``data_dir`` if given, else the workspace's (:mod:`core.workspace`:
``$HESSIAN_DATA_DIR``, else ``./data``).
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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


# ----------------------------------------------------------------------------- IDX files
#: SHA-256 of the official decompressed MNIST files (LeCun, Cortes & Burges); checked before use
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class DataFileError(ValueError):
    """An MNIST file that cannot be used; the message names the file and what is wrong."""


def _raw_bytes(path: Path) -> bytes:
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(f"{path}: not readable ({error})") from None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format: magic, dims as big-endian int32, then uint8 data).

    Raises:
        DataFileError: unreadable, not an unsigned-byte IDX file, or truncated; names the file.
    """
    raw = _raw_bytes(Path(path))
    if len(raw) < 4:
        raise DataFileError(f"{path}: empty or truncated IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 3 or len(raw) < 4 + 4 * ndim:
        raise DataFileError(f"{path}: not an unsigned-byte IDX file (wrong magic number)")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataFileError(f"{path}: truncated IDX file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def _find_idx(raw_dir: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(_raw_bytes(Path(path))).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of the decompressed content (memoised by path, size and modification time)."""
    info = path.stat()
    return _sha256(str(path), info.st_size, info.st_mtime_ns)


def check_mnist_file(path: Path, stem: str, verify_checksum: bool = True) -> None:
    """Raise :class:`DataFileError` unless ``path`` is the official file ``stem``."""
    if verify_checksum and file_digest(path) != MNIST_SHA256[stem]:
        raise DataFileError(f"{path}: does not match the official MNIST checksum (SHA-256 of its content); "
                            "not used")


def read_mnist_split(data_dir: Path, split: str, verify_checksum: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Images (n, 28, 28) uint8 and labels (n,) of one split from raw IDX files, or None if absent.

    Raises:
        DataFileError: a file of the split is present but is not the official one, malformed,
            or the two do not fit together; the message names the file.
    """
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    stems = _MNIST_FILES[split]
    images, labels = (_find_idx(raw_dir, stem) for stem in stems)
    if images is None or labels is None:
        return None
    for path, stem in ((images, stems[0]), (labels, stems[1])):
        check_mnist_file(path, stem, verify_checksum)
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataFileError(f"{images}: images of shape {x.shape[1:]}, not 28 x 28")
    if y.ndim != 1 or (len(y) and int(y.max()) > 9):
        raise DataFileError(f"{labels}: labels must be one digit 0-9 per image")
    if len(x) != len(y):
        raise DataFileError(f"{raw_dir}: {len(x)} images but {len(y)} labels in the {split} split")
    return x, y


def mnist_files(data_dir: Path) -> dict[str, Path | None]:
    """Each official MNIST file's path in ``data_dir/MNIST/raw`` (``.gz`` or not), or None."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    return {stem: _find_idx(raw_dir, stem) for stem in MNIST_SHA256}


def mnist_available(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a usable MNIST split (its files present and official)."""
    for split in ("train", "test"):
        try:
            paths = [_find_idx(Path(data_dir) / "MNIST" / "raw", stem) for stem in _MNIST_FILES[split]]
            if all(paths):
                for path, stem in zip(paths, _MNIST_FILES[split]):
                    check_mnist_file(path, stem)
                return True
        except (DataFileError, OSError):
            continue
    return False


def download_mnist(data_dir: Path) -> None:
    """Fetch MNIST into ``data_dir/MNIST/raw`` with torchvision (which checks its own MD5s).

    Only when asked (``python -m core data download``): runs never download on their own.
    """
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
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    factor = images.shape[1] // size
    if factor > 1:
        x = torch.nn.functional.avg_pool2d(x[:, None], factor)[:, 0]
    return ((x - MNIST_MEAN) / MNIST_STD).reshape(len(x), -1).numpy()


def _split_or_reason(data_dir: Path, split: str):
    try:
        found = read_mnist_split(data_dir, split)
    except DataFileError as error:
        return None, str(error)
    if found is None:
        missing = [stem for stem in _MNIST_FILES[split] if _find_idx(Path(data_dir) / "MNIST" / "raw", stem) is None]
        return None, "missing " + ", ".join(missing)
    return found, None


def _load_mnist(config: ExperimentConfig, data_dir: Path):
    """``(x_tr, y_tr, x_te, y_te, used, notice)`` from verified files, or ``(None, reason)``."""
    train, train_problem = _split_or_reason(data_dir, "train")
    test, test_problem = _split_or_reason(data_dir, "test")
    if train is not None and test is not None:
        return (_pool(train[0], config.input_size), train[1],
                _pool(test[0], config.input_size), test[1], "mnist", None)
    if test is not None:
        x, y = _pool(test[0], config.input_size), test[1]
        cut = int(0.8 * len(x))
        notice = (f"MNIST training split not usable in {data_dir / 'MNIST' / 'raw'} ({train_problem}); using the "
                  f"official test split instead: {cut} images to train on, {len(x) - cut} held out.")
        return x[:cut], y[:cut], x[cut:], y[cut:], "mnist-t10k", notice
    return None, f"training split: {train_problem}; test split: {test_problem}"


@lru_cache(maxsize=1)
def _sklearn_version() -> str:
    """The installed scikit-learn's version, read from its metadata without importing it (slow);
    the bundled digits are as that version ships them. Read once a process (2 ms a read)."""
    from importlib.metadata import version

    return version("scikit-learn")


def fingerprint(config: ExperimentConfig, data_dir: str | Path | None = None) -> str:
    """What the loaded data depends on, for cache keys: the digests of the MNIST files found
    (whatever their folder), or the bundled dataset's package version, or the synthetic seed.

    Adding, removing or changing a file changes the fingerprint, so cached results follow the
    data, not the folder's name.
    """
    if config.dataset == "synthetic":
        return "synthetic"
    sklearn_version = _sklearn_version()
    if config.dataset == "digits":
        return f"digits:scikit-learn {sklearn_version}"
    data_dir = Path(data_dir) if data_dir is not None else workspace.current().data_dir
    parts = []
    for stem, path in mnist_files(data_dir).items():
        try:
            parts.append(f"{stem}={file_digest(path)[:16] if path else 'absent'}")
        except DataFileError:
            parts.append(f"{stem}=unreadable")
    return "mnist:" + ",".join(parts) + f";fallback scikit-learn {sklearn_version}"


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


def _load_digits():
    pixels, y = digits_arrays()
    x = (pixels.astype(np.float32) / 16.0 - 0.5) / 0.5
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
        if len(loaded) == 2:
            x_tr, y_tr, x_te, y_te = _load_digits()
            used = "digits"
            notice = (f"MNIST is not available in {data_dir / 'MNIST' / 'raw'} ({loaded[1]}), so scikit-learn's "
                      "bundled 8x8 digits are used instead. Put the MNIST files there, set $" + DATA_DIR_ENV +
                      ", or run `python -m core data download` with a network.")
        else:
            x_tr, y_tr, x_te, y_te, used, notice = loaded
    elif config.dataset == "digits":
        x_tr, y_tr, x_te, y_te = _load_digits()
        used = "digits"
    else:
        x_tr, y_tr, x_te, y_te = _make_synthetic(config)
        used = "synthetic"

    if config.num_classes < NUM_CLASSES:  # the first C classes only, in every split
        keep_train, keep_test = y_tr < config.num_classes, y_te < config.num_classes
        x_tr, y_tr, x_te, y_te = x_tr[keep_train], y_tr[keep_train], x_te[keep_test], y_te[keep_test]
    order = np.random.default_rng(config.seed).permutation(len(x_tr))[: config.train_subset]
    x_tr, y_tr = x_tr[order], y_tr[order]
    if config.hessian_batch_size > len(x_tr):
        classes = f", classes 0-{config.num_classes - 1}" if config.num_classes < NUM_CLASSES else ""
        raise ConfigError("hessian_batch_size", config.hessian_batch_size,
                          f"at most the {len(x_tr)} training examples of {used} "
                          f"(train_subset={config.train_subset}{classes})")
    import torch

    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)
    as_y = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))
    return Dataset(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te), used, notice, config.num_classes)
