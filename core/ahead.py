"""Ahead of the user: while the app is idle, the settings a user is likely to pick next.

A what-if session changes one control at a time, and a few changes are far likelier than the
rest: the next width, the other activation, the other loss. Once a page has its whole picture
(nothing of this session is computing), the app may compute what the current configuration's
other pages still need and then those
:func:`neighbours` in one background process (:class:`AheadJob`, the same machinery as
:mod:`core.background`: each result lands in the cache as it is done, nothing half-done is
kept) at the lowest CPU priority (``nice`` 19: the scheduler gives the foreground nearly all of
the CPU whenever it wants it), and stops it at once when the configuration changes. A pick that
was computed ahead is then drawn from the cache.

Which neighbours, in order (:data:`NEIGHBOUR_RULES`, one line each): every hidden width doubled,
the other activation (ReLU and tanh for each other), the other loss, every hidden width halved.
A neighbour that is not a valid configuration, whose training the budget refuses, or that is
already cached whole is skipped. Off with ``HESSIAN_AHEAD=0`` (or the sidebar's switch).
"""

from __future__ import annotations

import os
from typing import Callable

from .background import Job
from .config import MAX_WIDTH, ConfigError, ExperimentConfig

#: ``(what the user would change, the changed configuration)``, likeliest first; a rule returns
#: None where it does not apply
NEIGHBOUR_RULES: tuple[tuple[str, Callable[[ExperimentConfig], ExperimentConfig | None]], ...] = (
    ("width ×2", lambda c: c.replace(hidden=tuple(min(2 * w, MAX_WIDTH) for w in c.hidden))),
    ("the other activation", lambda c: c.replace(activation="tanh" if c.activation == "relu" else "relu")),
    ("the other loss", lambda c: c.replace(loss="mse" if c.loss == "cross_entropy" else "cross_entropy")),
    ("width ÷2", lambda c: c.replace(hidden=tuple(max(w // 2, 1) for w in c.hidden))),
)

#: the first task's words: what the current configuration's own other pages still need
OWN_REST = "the rest of this setting"

#: how many neighbours one idle spell computes at most
MAX_NEIGHBOURS = 3

#: the CPU priority of the process that computes ahead (``nice``: 19 is the lowest)
NICE = 19


def enabled() -> bool:
    """Whether the app computes ahead by default (``$HESSIAN_AHEAD``, default on; ``0`` turns it off)."""
    return os.environ.get("HESSIAN_AHEAD", "1").strip() not in ("0", "false", "no", "off")


def neighbours(config: ExperimentConfig, limit: int = MAX_NEIGHBOURS) -> list[tuple[str, ExperimentConfig]]:
    """The configurations one control away that a user is likeliest to pick next, as ``(change,
    configuration)``, at most ``limit``, valid and different from ``config`` and each other.

    >>> [change for change, _ in neighbours(ExperimentConfig(hidden=(8,)))]
    ['width ×2', 'the other activation', 'the other loss']
    >>> neighbours(ExperimentConfig(hidden=(1,), activation="relu"), limit=4)[-1][1].activation
    'relu'
    """
    found, seen = [], {config}
    for change, rule in NEIGHBOUR_RULES:
        try:
            candidate = rule(config)
        except ConfigError:
            continue
        if candidate is not None and candidate not in seen:
            seen.add(candidate)
            found.append((change, candidate))
        if len(found) == limit:
            break
    return found


def plan(config: ExperimentConfig, methods, samples: int, limit: int = MAX_NEIGHBOURS) -> list[dict]:
    """What an idle spell would compute: first what ``config`` itself still lacks (the methods of the
    pages not visited yet), then, for each of :func:`neighbours` whose training the budget admits,
    the methods of :func:`core.pipeline.results_for` it does not have cached yet; each as
    ``{"change", "config", "methods", "options"}``, one cached whole left out."""
    from . import pipeline
    from .methods import options_for

    tasks = []
    for change, neighbour in [(OWN_REST, config), *neighbours(config, limit)]:
        if not pipeline.training_admitted(neighbour):
            continue
        todo = pipeline.missing(neighbour, methods, samples)
        if todo:
            tasks.append({"change": change, "config": neighbour, "methods": todo,
                          "options": {name: options_for(name, samples) for name in todo}})
    return tasks


class AheadJob(Job):
    """:func:`plan`'s tasks in one background process at the lowest priority (:data:`NICE`).

    ``config`` is the configuration the neighbours are of (a changed configuration cancels the
    job); :meth:`status` counts methods over all tasks.
    """

    def __init__(self, config: ExperimentConfig, tasks: list[dict]):
        super().__init__(config, [m for task in tasks for m in task["methods"]], {}, holds=False)  # started idle
        self.tasks = tasks

    def process_words(self) -> list[str]:
        return ["ahead"]  # python -m core.background ahead: told apart from the page's own job

    def payload(self) -> dict:
        return {"nice": NICE, "tasks": [{"config": t["config"].to_dict(), "methods": list(t["methods"]),
                                         "options": t["options"]} for t in self.tasks]}

    def changes(self) -> list[str]:
        """What each task is, in the words of :data:`NEIGHBOUR_RULES`."""
        return [task["change"] for task in self.tasks]
