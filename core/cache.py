"""joblib's on-disk cache, keyed by configuration, method, options and a code version.

The store is the workspace's cache directory (:mod:`core.workspace`: ``cache/``, or
``$HESSIAN_CACHE_DIR``, or the CLI's ``--cache-dir``). The code version is a hash of the
sources that shape the numbers (everything in ``core`` but the modules that only present
them), so a change of the maths never serves stale results.

joblib writes each entry to a temporary file and renames it into place, so two processes
computing the same entry leave one complete result; an entry that cannot be loaded
(truncated, corrupt) is recomputed and rewritten rather than raised.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import warnings
from collections import Counter
from functools import lru_cache
from pathlib import Path

from . import workspace

_PACKAGE_DIR = Path(__file__).resolve().parent
#: modules that present numbers but do not change them
_NOT_NUMERIC = {"cli.py", "__main__.py", "claims.py", "tables.py", "workspace.py", "library_warnings.py"}

#: how many times each cached computation really ran in this process (tests count these)
COMPUTE_COUNTS: Counter = Counter()


@lru_cache(maxsize=1)
def code_version() -> str:
    """A 16-hex-digit hash of the numeric sources of ``core`` (part of every cache key)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        if path.name not in _NOT_NUMERIC:
            digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=8)
def _memory_at(location: str):
    import joblib

    return joblib.Memory(location, verbose=0)


def _memory():
    return _memory_at(str(workspace.current().cache_dir))


def cached(func):
    """Wrap ``func`` so calls are served from joblib's store at the current location.

    A ``progress`` callback argument, if the function has one, is not part of the key.
    """
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
