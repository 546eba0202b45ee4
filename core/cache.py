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
* the store is private (0700: created so, or tightened when it is ours and only readable by
  others) and is refused when another user owns it or others can write to it, since loading an
  entry unpickles it (the way ssh treats its keys); the same check covers every folder on the
  path an entry is loaded from, and the entry itself. Every folder and file the tool creates is
  private whatever the umask (0700 / 0600); locks and temporary files are opened without
  following symlinks (a planted link is refused, never written through);
* an entry records the key it was stored under; one whose key differs (copied from another
  configuration's entry) is recomputed;
* a lock held longer than :data:`LOCK_WAIT_S` (a stopped process, say) is said on stderr with
  the holder's pid every :data:`LOCK_NOTICE_S`, then refused with a message naming it.

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
#: an entry's first element: what marks the layout (value with the key it was stored under)
_ENTRY_TAG = "hessian-spectrum-entry-v1"
#: the longest wait for another process's lock on the same entry (a computation is bounded by the
#: budget's time, 600 s by default), and how often the wait is said
LOCK_WAIT_S = 900.0
LOCK_NOTICE_S = 30.0
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

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
        _private_folder(path)
    except OSError as error:
        raise CacheError(f"cannot create cache directory {path}: {error.strerror}") from None
    check_private(path, "cache directory")
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077:  # ours, readable by others: made private, as the README says
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
    _check_writable(str(path), info.st_ino)
    return path


@lru_cache(maxsize=16)
def _check_writable(store: str, inode: int) -> None:
    """Refuse a store nothing can be written into (a read-only folder or file system), before any
    work: a private file is created there and removed (once per store and process)."""
    probe = Path(store) / f".probe.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600))
        probe.unlink()
    except OSError as error:
        raise CacheError(f"cache directory {store} is not writable ({error.strerror}): choose another with "
                         "--cache-dir or $HESSIAN_CACHE_DIR") from None


def _private_folder(path: Path) -> None:
    """``path`` and any missing parents created 0700 whatever the umask (existing ones untouched)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask only towards fewer rights: say it


def check_private(path: Path, what: str = "cache folder") -> None:
    """Refuse ``path`` (a folder or an entry of the store) when another user owns it or others can
    write to it: it may hold pickles someone else planted.

    Raises:
        CacheError: naming the path, the owner or mode, and what to do.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise CacheError(f"{what} {path} is a symbolic link; the store's folders and entries are not followed "
                         "through links: remove it")
    if info.st_uid != os.getuid():
        raise CacheError(f"{what} {path} belongs to another user (uid {info.st_uid}); its entries "
                         "are pickles and are not loaded: use a directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"{what} {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}); "
                         f"its entries are pickles and are not loaded: chmod 700 {path}")


@contextmanager
def _file_lock(path: Path, wait_s: float | None = None):
    """An exclusive ``fcntl`` lock on ``path`` (created 0600, never through a symlink); its holder's
    pid is written in it, so a waiter can say whom it waits for."""
    import fcntl

    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
    except OSError as error:
        raise CacheError(f"cannot open the lock {path} ({error.strerror}): a symbolic link or a folder there is "
                         "not followed; remove it") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CacheError(f"the lock {path} is not a regular file: remove it")
        start, said = time.monotonic(), 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                if waited > wait_s:
                    raise CacheError(f"waited {waited:.0f} s for the lock {path}, held by process {holder} (stopped "
                                     f"or still computing the same entry): end that process, or remove the lock "
                                     "if it is gone") from None
                if waited - said >= LOCK_NOTICE_S:
                    said = waited
                    _say(f"waiting {waited:.0f} s for {path.name}, locked by process {holder}")
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _say(message: str) -> None:
    print(f"cache: {message}", file=sys.stderr)


def _load(path: Path, expected: type | None, valid, key: str | None = None):
    """The entry at ``path``, or None when it is missing or does not fit (then it is removed):
    it must be a regular file of ours, record ``key``, and hold a value of the expected type."""
    import joblib

    if not os.path.lexists(path):
        return None
    check_private(path, "cache entry")
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise TypeError("is not a regular file")
        stored = joblib.load(path)
        if not (isinstance(stored, tuple) and len(stored) == 3 and stored[0] == _ENTRY_TAG):
            raise TypeError("is not an entry of this tool's layout")
        if key is not None and stored[1] != key:
            raise ValueError(f"was stored under another key ({str(stored[1])[:12]}…)")
        value = stored[2]
        if expected is not None and not isinstance(value, expected):
            raise TypeError(f"holds a {type(value).__name__}, not a {expected.__name__}")
        if valid is not None and not valid(value):
            raise ValueError("fails its check")
        return value
    except Exception as error:  # noqa: BLE001 - any unreadable entry is recomputed
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise CacheError(f"the cache entry {path} is a folder: remove it") from None
        _say(f"recomputing {path.parent.parent.name}/{path.name}: the entry {str(error).splitlines()[0][:120]}")
        path.unlink(missing_ok=True)
        return None


def _store(path: Path, value, key: str | None = None) -> None:
    """Write ``(tag, key, value)`` to a private temporary file (0600, created new, never through a
    link) and rename it into place."""
    import joblib

    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            joblib.dump((_ENTRY_TAG, key, value), handle)
        os.replace(temporary, path)
    except OSError as error:  # a full disk, a file-size limit, a store turned read-only meanwhile
        Path(temporary).unlink(missing_ok=True)
        _say(f"not stored: {path.parent.parent.name}/{path.name} ({error.strerror}); the result is used as "
             "computed, the cache is unchanged and the next run computes it again")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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

        def entry(*args, **kwargs) -> tuple[Path, str]:
            import joblib

            key = joblib.hash(dict(signature.bind(*args, **kwargs).arguments))
            store = _prepared(str(workspace.current().cache_dir))
            folder = store / func.__name__.lstrip("_") / code_version()
            for level in (folder.parent, folder):  # every folder an entry is loaded from is checked
                if os.path.lexists(level):
                    check_private(level)
            return folder / f"{key}.pkl", key

        @functools.wraps(func)
        def call(*args, **kwargs):
            path, key = entry(*args, **kwargs)
            value = _load(path, returns, valid, key)
            if value is not None:
                return value
            if precheck is not None:
                precheck(*args, **kwargs)
            import numpy as np
            import torch

            _private_folder(path.parent)
            with _compute_lock, _file_lock(path.with_suffix(".lock")):
                value = _load(path, returns, valid, key)  # computed meanwhile by someone else
                if value is not None:
                    return value
                state = np.random.get_state()
                with torch.random.fork_rng(devices=[]):
                    try:
                        value = func(*args, **kwargs)
                    finally:
                        np.random.set_state(state)
                _store(path, value, key)
            return value

        def is_cached(*args, **kwargs) -> bool:
            return entry(*args, **kwargs)[0].exists()

        def check(*args, **kwargs) -> None:
            if precheck is not None and not is_cached(*args, **kwargs):
                precheck(*args, **kwargs)

        call.is_cached = is_cached
        call.check = check
        return call

    return wrap
