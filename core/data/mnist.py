"""MNIST from raw IDX files: reading, official checksums, the splits, and the download on request.

Files are read from ``<data_dir>/MNIST/raw`` (``.gz`` or not); each is checked against the
official SHA-256 of its content and for its shape before use, and a bad file is named and not
used. Nothing is downloaded unless asked (:func:`download_mnist`, ``python -m core data
download``). When the training split is not usable but the test split is, the 10,000 test
images are split 80/20 into training and held-out parts (:func:`load_mnist` says so).
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


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


#: the most bytes an IDX file may hold, inflated (the largest official file has 47,040,016)
MAX_IDX_BYTES = 64 * 2**20
_CHUNK = 2**20


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, a ``.gz`` inflated in a stream that stops past :data:`MAX_IDX_BYTES`
    (so a small file that inflates to gigabytes is refused, not decompressed into memory)."""
    try:
        if not str(path).endswith(".gz"):
            if path.stat().st_size > MAX_IDX_BYTES:
                raise DataFileError(f"{path}: {path.stat().st_size:,} bytes, more than any MNIST file "
                                    f"({MAX_IDX_BYTES // 2**20} MiB); not used")
            return path.read_bytes()
        parts, total = [], 0
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > MAX_IDX_BYTES:
                    raise DataFileError(f"{path}: inflates to more than {MAX_IDX_BYTES // 2**20} MiB, more than any "
                                        "MNIST file; not used")
                parts.append(chunk)
        return b"".join(parts)
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


def _find_idx(raw_dir: Path, stem: str, verify_checksum: bool = True) -> Path | None:
    """The file holding ``stem`` (``stem`` or ``stem.gz``): of two, the one that is the official
    file (a stray or partial uncompressed copy does not shadow a valid ``.gz``); None if neither."""
    found = [raw_dir / name for name in (stem, stem + ".gz") if (raw_dir / name).is_file()]
    if verify_checksum and len(found) > 1:
        for path in found:
            try:
                check_mnist_file(path, stem)
                return path
            except DataFileError:
                continue
    return found[0] if found else None


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
    images, labels = (_find_idx(raw_dir, stem, verify_checksum) for stem in stems)
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


def load_mnist(input_size: int, data_dir: Path):
    """``(x_tr, y_tr, x_te, y_te, used, notice)`` from verified files, or ``(None, reason)``.

    Memoised in-process by the folder's files (names, sizes, modification times) and the input
    size: a changed width or loss reads nothing again (0.3-0.4 s of inflating and pooling the
    official test split, on the page's first answer); the arrays returned are copies."""
    raw = Path(data_dir) / "MNIST" / "raw"
    state = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in raw.iterdir() if p.is_file())) \
        if raw.is_dir() else ()
    found = _load_mnist(input_size, str(Path(data_dir).absolute()), state)
    return tuple(part.copy() if isinstance(part, np.ndarray) else part for part in found)


@lru_cache(maxsize=2)
def _load_mnist(input_size: int, data_dir: str, state: tuple):
    data_dir = Path(data_dir)
    train, train_problem = _split_or_reason(data_dir, "train")
    test, test_problem = _split_or_reason(data_dir, "test")
    if train is not None and test is not None:
        return (_pool(train[0], input_size), train[1],
                _pool(test[0], input_size), test[1], "mnist", None)
    if test is not None:
        x, y = _pool(test[0], input_size), test[1]
        cut = int(0.8 * len(x))
        notice = (f"MNIST training split not usable in {data_dir / 'MNIST' / 'raw'} ({train_problem}); using the "
                  f"official test split instead: {cut} images to train on, {len(x) - cut} held out.")
        return x[:cut], y[:cut], x[cut:], y[cut:], "mnist-t10k", notice
    return None, f"training split: {train_problem}; test split: {test_problem}"
