"""Progress from inside long computations, and where they can be interrupted.

``core`` imports no user interface. A caller that wants to see work advance (the app's
progress bar, a CLI) listens for the duration of a computation::

    with progress.listening(callback) as counts:
        pipeline.results_for(config, methods, samples)

The loops that make up the cost of every method report what they did with :func:`tick`:
curvature products (every batched product of :class:`core.problem.Problem`, and PyHessian's),
training steps. At most every ``interval`` seconds the callback gets the running
:class:`Counts`.

The callback is also where a computation stops. If it raises (Streamlit raises its own stop
or rerun exception from inside any element update once the user presses Stop or changes a
control), the exception unwinds the method mid-way. Nothing partial is cached: the cache
stores a value only after its function has returned (:func:`core.cache.cached`), and entries
are written to a temporary file and renamed into place.

The listener lives in a context variable, so it follows the thread that computes (Streamlit
runs each session's script in its own thread) and never leaks to another session.
"""

from __future__ import annotations

import contextvars
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Counts:
    """What was done since listening began, e.g. ``{"products": 1200, "training steps": 150}``."""

    done: Counter = field(default_factory=Counter)

    def __getitem__(self, what: str) -> int:
        return self.done[what]

    def describe(self, since: "Counter | None" = None) -> str:
        """``"1,200 products, 1 training step"`` (only what happened after ``since``; ``what`` is
        named in the plural, as :func:`tick` is called)."""
        done = self.done - (since or Counter())
        return ", ".join(f"{n:,} {what if n != 1 else what[:-1]}" for what, n in done.items() if n)


@dataclass
class _Listener:
    callback: object
    interval: float
    counts: Counts = field(default_factory=Counts)
    last: float = 0.0


_LISTENER: contextvars.ContextVar[_Listener | None] = contextvars.ContextVar("core_progress", default=None)


@contextmanager
def listening(callback, interval: float = 0.25):
    """Call ``callback(counts)`` at most every ``interval`` seconds while the body runs."""
    listener = _Listener(callback, interval)
    token = _LISTENER.set(listener)
    try:
        yield listener.counts
    finally:
        _LISTENER.reset(token)


def tick(units: int = 1, what: str = "products") -> None:
    """Record ``units`` of ``what``; call the listener if one is due. Cheap without one."""
    listener = _LISTENER.get()
    if listener is None:
        return
    listener.counts.done[what] += units
    now = time.monotonic()
    if now - listener.last >= listener.interval:
        listener.last = now
        listener.callback(listener.counts)
