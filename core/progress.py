"""Progress from inside long computations, and where they can be interrupted.

``core`` imports no user interface. A caller that wants to see work advance (the app's
progress bar, a CLI) listens for the duration of a computation::

    with progress.listening(callback) as counts:
        pipeline.results_for(config, methods, samples)

The loops that make up the cost of every method report what they did with :func:`tick`:
curvature products (every batched product of :class:`core.problem.Problem`, and PyHessian's),
training steps. A computation made of steps (the methods of one configuration, the checkpoints
of a trajectory) says which one runs now with :func:`stage`. At most every ``interval`` seconds,
and at once on a new stage, the callback gets the running :class:`Counts`. This is the only
progress channel of ``core``: no function takes a progress callback.

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


@dataclass(frozen=True)
class Stage:
    """The step that runs now: what it is, its index among ``total``, and the counts when it began."""

    text: str
    index: int
    total: int
    since: Counter

    @property
    def fraction(self) -> float:
        return self.index / self.total if self.total else 0.0


@dataclass
class Counts:
    """What was done since listening began, e.g. ``{"products": 1200, "training steps": 150}``,
    and the stage that runs now (None before the first)."""

    done: Counter = field(default_factory=Counter)
    stage: Stage | None = None

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


def stage(text: str, index: int, total: int) -> None:
    """Say that step ``index`` of ``total`` (from 0), ``text``, begins; the listener hears it at once."""
    listener = _LISTENER.get()
    if listener is None:
        return
    listener.counts.stage = Stage(text, index, total, listener.counts.done.copy())
    listener.last = time.monotonic()
    listener.callback(listener.counts)


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
