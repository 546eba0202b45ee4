"""joblib's on-disk cache, keyed by configuration, method, options and a code version.

The store lives in ``cache/`` (or ``$HESSIAN_CACHE_DIR``, or :func:`set_cache_dir`). The
code version is a hash of the sources that shape the numbers (everything in ``core`` but the
CLI and the benchmark), so a change of the maths never serves stale results.

joblib writes each entry to a temporary file and renames it into place, so two processes
computing the same entry leave one complete result; an entry that cannot be loaded
(truncated, corrupt) is recomputed and rewritten rather than raised.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections import Counter
from functools import lru_cache
from pathlib import Path

import joblib

CACHE_DIR_ENV = "HESSIAN_CACHE_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent
_NOT_NUMERIC = {"cli.py", "__main__.py", "bench.py", "report.py"}

#: how many times each cached computation really ran in this process (tests count these)
COMPUTE_COUNTS: Counter = Counter()
_location: Path | None = None


@lru_cache(maxsize=1)
def code_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        if path.name not in _NOT_NUMERIC:
            digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    if _location is not None:
        return _location
    return Path(os.environ.get(CACHE_DIR_ENV, _PACKAGE_DIR.parent / "cache"))


def set_cache_dir(path: str | Path | None) -> None:
    """Use another store (``None``: back to the default)."""
    global _location
    _location = Path(path) if path is not None else None


@lru_cache(maxsize=8)
def _memory_at(location: str) -> joblib.Memory:
    return joblib.Memory(location, verbose=0)


def _memory() -> joblib.Memory:
    return _memory_at(str(cache_dir()))


def cached(func):
    """Wrap ``func`` so calls are served from joblib's store at the current location.

    A ``progress`` callback argument, if the function has one, is not part of the key.
    """

    import inspect

    ignore = ["progress"] if "progress" in inspect.signature(func).parameters else None

    @functools.wraps(func)
    def call(*args, **kwargs):
        with warnings.catch_warnings():
            # joblib warns when it meets a corrupt entry; recomputing it is the intended outcome
            warnings.filterwarnings("ignore", message=".*Exception while loading results.*")
            return _memory().cache(func, ignore=ignore)(*args, **kwargs)

    def is_cached(*args, **kwargs) -> bool:
        return _memory().cache(func, ignore=ignore).check_call_in_cache(*args, **kwargs)

    call.is_cached = is_cached
    return call
