"""Peak resident memory of a computation, from Linux's per-process high-water mark.

Writing ``5`` to ``/proc/self/clear_refs`` resets ``VmHWM`` (the peak resident set) to the
current resident set (Linux >= 4.0, proc(5)); reading ``VmHWM`` after the computation gives its
peak, and the difference from ``VmRSS`` before is the extra memory it needed. Memory the
allocator kept from earlier work and reuses is not counted, so this is a lower bound on what
the computation would need in a fresh process; to keep that bound tight, the allocator's free
memory is handed back first (``malloc_trim``). Callers hold :mod:`core.cache`'s compute lock,
so no other computation of this process runs meanwhile. Elsewhere the measurement is ``None``.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def process_peak_gib() -> float | None:
    """This process's peak resident memory so far (``VmHWM``) in GiB, or None off Linux.

    Unlike ``ru_maxrss``, ``VmHWM`` is not carried over ``exec`` from a parent process.
    """
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 2**20


def _release_free_memory() -> None:
    """Hand memory the allocator keeps but no longer uses back to the system (glibc's
    ``malloc_trim``), so that what a computation reuses from earlier work shows up again in its
    peak. Elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def peak_memory():
    """``with peak_memory() as measured: ...``; then ``measured["bytes"]`` (or None)."""
    measured = {"bytes": None}
    _release_free_memory()
    try:
        _CLEAR.write_text("5")
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    try:
        yield measured
    finally:
        after = _status_kib("VmHWM")
        if before is not None and after is not None:
            measured["bytes"] = max(0, after - before) * 1024
