"""Fashion-MNIST and CIFAR-10 from the files their publishers ship, verified before use.

* **Fashion-MNIST** (Xiao, Rasul & Vollgraf 2017): MNIST's IDX format (read by
  :func:`core.data.mnist.read_idx`), 28x28 grey images of ten kinds of clothing, in
  ``<data_dir>/FashionMNIST/raw`` as the four ``.gz`` files published. Each ``.gz`` is checked
  against the official MD5 (Zalando's README; torchvision checks the same) before it is read;
  an uncompressed copy cannot be checked against it and is refused, naming the ``.gz`` to keep.
* **CIFAR-10** (Krizhevsky 2009): 32x32 colour images, ten classes, from the "python version"
  archive extracted to ``<data_dir>/cifar-10-batches-py`` (``data_batch_1`` ... ``_5``,
  ``test_batch``). Those files are pickles, so each is checked against its official MD5 before
  it is unpickled: only the published bytes are ever loaded.

Both are pooled by the configuration's factor (``input_size`` 28 / 14 / 7 is a factor 1 / 2 / 4:
CIFAR-10 at 32 / 16 / 8 pixels) and standardised with the dataset's published mean and
standard deviation (per channel for CIFAR-10); CIFAR-10's inputs are flattened channel-major
(3 x s x s), so :func:`core.shapes.image_shape` reads them back as 3 channels. Nothing is
downloaded unless asked (:func:`download`, ``python -m core data download --dataset ...``).
"""

from __future__ import annotations

import hashlib
import pickle
import socket
from functools import lru_cache
from pathlib import Path

import numpy as np

from .mnist import MAX_IDX_BYTES, DataFileError, read_idx

#: MD5 of each published Fashion-MNIST ``.gz`` (github.com/zalandoresearch/fashion-mnist)
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                  "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
FASHION_FOLDER = ("FashionMNIST", "raw")

#: MD5 of each file of the CIFAR-10 python archive (www.cs.toronto.edu/~kriz/cifar.html, as torchvision checks)
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_SPLITS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR10_FOLDER = ("cifar-10-batches-py",)
CIFAR10_SIDE = 32
#: the most bytes one CIFAR-10 batch file may have (the official ones have 31,035,704 or so)
MAX_BATCH_BYTES = 40 * 2**20


def folder(data_dir: Path, name: str) -> Path:
    """Where dataset ``name`` (``fashion-mnist`` or ``cifar10``) lives under ``data_dir``."""
    return Path(data_dir).joinpath(*(FASHION_FOLDER if name == "fashion-mnist" else CIFAR10_FOLDER))


@lru_cache(maxsize=32)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def md5(path: Path, limit: int) -> str:
    """The file's MD5 (memoised by path, size and modification time), refused
    (:class:`DataFileError`) when it is larger than ``limit`` bytes."""
    try:
        info = path.stat()
        if info.st_size > limit:
            raise DataFileError(f"{path}: {info.st_size:,} bytes, more than the published file; not used")
        return _md5(str(path), info.st_size, info.st_mtime_ns)
    except OSError as error:
        raise DataFileError(f"{path}: not readable ({error})") from None


def available(name: str, data_dir: Path) -> bool:
    """Whether every published file of ``name`` is in ``data_dir`` and matches its MD5 (no file is read further)."""
    table, limit = (FASHION_MD5, MAX_IDX_BYTES) if name == "fashion-mnist" else (CIFAR10_MD5, MAX_BATCH_BYTES)
    try:
        return all(path is not None and md5(path, limit) == table[stem] for stem, path in files(name, data_dir).items())
    except DataFileError:
        return False


def _checked(path: Path, expected: str, limit: int) -> Path:
    if md5(path, limit) != expected:
        raise DataFileError(f"{path}: does not match the official checksum (MD5 of the published file); not used")
    return path


def files(name: str, data_dir: Path) -> dict[str, Path | None]:
    """Each published file of ``name`` and its path under ``data_dir``, or None where absent."""
    table = FASHION_MD5 if name == "fashion-mnist" else CIFAR10_MD5
    where = folder(data_dir, name)
    return {stem: (where / stem if (where / stem).is_file() else None) for stem in table}


def pool(images: np.ndarray, factor: int, mean, std) -> np.ndarray:
    """Average-pool ``(n, c, s, s)`` uint8 images by ``factor``, scale to [0, 1], standardise per
    channel, and flatten channel-major to ``(n, c * (s / factor)^2)`` float32."""
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    if factor > 1:
        x = torch.nn.functional.avg_pool2d(x, factor)
    mean = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).reshape(len(x), -1).numpy()


def read_fashion_split(data_dir: Path, split: str, verify_checksum: bool = True):
    """Images ``(n, 1, 28, 28)`` uint8 and labels of one Fashion-MNIST split, or None if absent.

    Raises:
        DataFileError: a file is present but not the published one, malformed, or uncompressed
            (which cannot be checked); the message names it.
    """
    where = folder(data_dir, "fashion-mnist")
    paths = []
    for stem in FASHION_SPLITS[split]:
        path = where / stem
        if not path.is_file():
            if (where / stem[:-3]).is_file():
                raise DataFileError(f"{where / stem[:-3]}: an uncompressed copy cannot be checked against the "
                                    f"official MD5, which is of the published {stem}: keep that file instead")
            return None
        paths.append(_checked(path, FASHION_MD5[stem], MAX_IDX_BYTES) if verify_checksum else path)
    x, y = read_idx(paths[0]), read_idx(paths[1])
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y) or (len(y) and y.max() > 9):
        raise DataFileError(f"{where}: the {split} split's images must be n x 28 x 28 with one label 0-9 each")
    return x[:, None], y


def _unpickled_batch(path: Path, expected: str, verify_checksum: bool):
    if verify_checksum:
        _checked(path, expected, MAX_BATCH_BYTES)  # before unpickling: only the published bytes are loaded
    elif path.stat().st_size > MAX_BATCH_BYTES:
        raise DataFileError(f"{path}: more than a CIFAR-10 batch; not used")
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataFileError(f"{path}: not a CIFAR-10 batch ({type(error).__name__})") from None
    if data.ndim != 2 or data.shape[1] != 3 * CIFAR10_SIDE**2 or len(data) != len(labels) or labels.max() > 9:
        raise DataFileError(f"{path}: a CIFAR-10 batch holds n x 3072 bytes and n labels 0-9")
    return data.reshape(-1, 3, CIFAR10_SIDE, CIFAR10_SIDE), labels


def read_cifar_split(data_dir: Path, split: str, verify_checksum: bool = True):
    """Images ``(n, 3, 32, 32)`` uint8 and labels of one CIFAR-10 split, or None if a file is absent.

    Raises:
        DataFileError: a file is present but not the published one, or malformed; names it.
    """
    where = folder(data_dir, "cifar10")
    paths = [where / stem for stem in CIFAR10_SPLITS[split]]
    if not all(p.is_file() for p in paths):
        return None
    parts = [_unpickled_batch(p, CIFAR10_MD5[p.name], verify_checksum) for p in paths]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


READERS = {"fashion-mnist": (read_fashion_split, (FASHION_MEAN,), (FASHION_STD,)),
           "cifar10": (read_cifar_split, CIFAR10_MEAN, CIFAR10_STD)}


def load(name: str, factor: int, data_dir: Path):
    """``(x_tr, y_tr, x_te, y_te, name, None)`` from verified files, or ``(None, reason)``."""
    read, mean, std = READERS[name]
    found, reasons = {}, []
    for split in ("train", "test"):
        try:
            found[split] = read(data_dir, split)
        except DataFileError as error:
            found[split] = None
            reasons.append(str(error))
            continue
        if found[split] is None:
            missing = [stem for stem, path in files(name, data_dir).items() if path is None
                       and (stem in (FASHION_SPLITS if name == "fashion-mnist" else CIFAR10_SPLITS)[split])]
            reasons.append(f"{split} split: missing " + ", ".join(missing))
    if found["train"] is None or found["test"] is None:
        return None, "; ".join(reasons)
    (x_tr, y_tr), (x_te, y_te) = found["train"], found["test"]
    return pool(x_tr, factor, mean, std), y_tr, pool(x_te, factor, mean, std), y_te, name, None


def download(name: str, data_dir: Path) -> None:
    """Fetch ``name`` into ``data_dir`` with torchvision (which checks the same MD5s): only when asked."""
    from torchvision.datasets import CIFAR10, FashionMNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        for train in (True, False):
            (FashionMNIST if name == "fashion-mnist" else CIFAR10)(root=str(data_dir), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)
