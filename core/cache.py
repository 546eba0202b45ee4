"""The on-disk cache: joblib's hashing and pickling, our own layout, checks and locks.

A cached number must be the number a fresh run would give, or it is not served. So, unlike
``joblib.Memory`` (whose function-source check erases every entry of a function when its code
changes, and which cannot be told what a valid entry looks like):

* the key is ``joblib.hash`` of everything the result depends on (the caller passes the config,
  method, options, a fingerprint of the data actually used and the code version);
* entries live in ``<store>/<function>/<code version>/<key>.pkl``: a code change starts a new
  folder and leaves the old entries where they are (switching back serves them again);
* an entry is written to a temporary file and renamed into place (atomic on POSIX), so a run
  killed at any moment leaves either no entry or a complete one; temporary files older than an
  hour are removed;
* an entry is checked on load (it must unpickle, be of the declared type and pass its check);
  one that does not is recomputed and replaced, with a one-line note on stderr;
* computing a missing entry holds a lock: a thread lock within the process (Streamlit runs
  each session in a thread of one process) and an ``fcntl`` file lock across processes, so
  identical requests compute once and the others wait and load it; torch's and numpy's global
  random state are saved and restored around the computation (``torch.random.fork_rng``);
* the store is created private (0700) and is refused when another user owns it or others can
  write to it, since loading an entry unpickles it (the way ssh treats its keys).

The store is the workspace's cache directory (:mod:`core.workspace`: ``cache/``, or
``$HESSIAN_CACHE_DIR``, or the CLI's ``--cache-dir``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import stat
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from . import workspace

_PACKAGE_DIR = Path(__file__).resolve().parent
#: modules (and the cli package) that present numbers but do not change them
_NOT_NUMERIC = {"cli", "__main__.py", "claims.py", "comparison.py", "tables.py", "workspace.py", "library_warnings.py"}
_TEMPORARY_MAX_AGE_S = 3600

#: how many times each cached computation really ran in this process (tests count these)
COMPUTE_COUNTS: Counter = Counter()
_compute_lock = threading.RLock()


class CacheError(RuntimeError):
    """The cache directory cannot be used safely; the message says why and what to do."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """A 16-hex-digit hash of the numeric sources of ``core`` (part of every cache key)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        if not set(path.relative_to(_PACKAGE_DIR).parts) & _NOT_NUMERIC:
            digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def check_store(path: Path) -> Path:
    """Create the store private (0700) if missing; refuse one that is unsafe to unpickle from.

    Raises:
        CacheError: ``path`` exists and is not a directory, is owned by another user, or is
            writable by group or others.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CacheError(f"cache directory {path} is not a directory: choose another with --cache-dir "
                         "or $HESSIAN_CACHE_DIR")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(f"cannot create cache directory {path}: {error.strerror}") from None
    info = path.stat()
    if info.st_uid != os.getuid():
        raise CacheError(f"cache directory {path} belongs to another user (uid {info.st_uid}); its entries "
                         "are pickles and are not loaded: use a directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"cache directory {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}); "
                         f"its entries are pickles and are not loaded: chmod 700 {path}")
    return path


@contextmanager
def _file_lock(path: Path):
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say(message: str) -> None:
    print(f"cache: {message}", file=sys.stderr)


def _load(path: Path, expected: type | None, valid):
    """The entry at ``path``, or None when it is missing or does not fit (then it is removed)."""
    import joblib

    if not path.exists():
        return None
    try:
        value = joblib.load(path)
        if expected is not None and not isinstance(value, expected):
            raise TypeError(f"holds a {type(value).__name__}, not a {expected.__name__}")
        if valid is not None and not valid(value):
            raise ValueError("fails its check")
        return value
    except Exception as error:  # noqa: BLE001 - any unreadable entry is recomputed
        _say(f"recomputing {path.parent.parent.name}/{path.name}: the entry {str(error).splitlines()[0][:120]}")
        path.unlink(missing_ok=True)
        return None


def _store(path: Path, value) -> None:
    import joblib

    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    joblib.dump(value, temporary)
    os.replace(temporary, path)


def clean_temporary_files(store: Path, max_age_s: float = _TEMPORARY_MAX_AGE_S) -> int:
    """Remove temporary files left by killed writers (older than ``max_age_s``); how many."""
    now, removed = time.time(), 0
    for path in Path(store).rglob(".*.tmp"):
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


@lru_cache(maxsize=16)
def _cleaned(store: str) -> None:
    clean_temporary_files(Path(store))


def _prepared(store: str) -> Path:
    """The store, checked on every use (a stat: cheap), its stale temporary files cleaned once."""
    path = check_store(Path(store))
    _cleaned(store)
    return path


def cached(returns: type | None = None, valid=None, precheck=None):
    """Decorator: serve ``func(*args)`` from the store, computing it once when missing.

    Args:
        returns: the type an entry must have (checked on load).
        valid: an extra check ``valid(value) -> bool`` on load.
        precheck: ``precheck(*args)``, called when the entry is missing, before anything is
            computed: where a cached computation declares what refuses it (a budget, an option
            out of range for the problem), so no caller repeats "check unless cached". What it
            raises propagates and nothing is stored.

    The wrapped function gets ``.is_cached(*args)`` and ``.check(*args)`` (the precheck, unless
    the entry is there). Arguments must be plain data (configs as dicts, not tensors).
    """

    def wrap(func):
        signature = inspect.signature(func)

        def entry(*args, **kwargs) -> Path:
            import joblib

            key = joblib.hash(dict(signature.bind(*args, **kwargs).arguments))
            store = _prepared(str(workspace.current().cache_dir))
            return store / func.__name__.lstrip("_") / code_version() / f"{key}.pkl"

        @functools.wraps(func)
        def call(*args, **kwargs):
            path = entry(*args, **kwargs)
            value = _load(path, returns, valid)
            if value is not None:
                return value
            if precheck is not None:
                precheck(*args, **kwargs)
            import numpy as np
            import torch

            path.parent.mkdir(parents=True, exist_ok=True)
            with _compute_lock, _file_lock(path.with_suffix(".lock")):
                value = _load(path, returns, valid)  # computed meanwhile by someone else
                if value is not None:
                    return value
                state = np.random.get_state()
                with torch.random.fork_rng(devices=[]):
                    try:
                        value = func(*args, **kwargs)
                    finally:
                        np.random.set_state(state)
                _store(path, value)
            return value

        def is_cached(*args, **kwargs) -> bool:
            return entry(*args, **kwargs).exists()

        def check(*args, **kwargs) -> None:
            if precheck is not None and not is_cached(*args, **kwargs):
                precheck(*args, **kwargs)

        call.is_cached = is_cached
        call.check = check
        return call

    return wrap
