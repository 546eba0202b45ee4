"""Where the data and the cache live: one object, set once from the environment or the CLI.

Both are fields of one :class:`Workspace`:

* ``data_dir``: where MNIST's IDX files are looked for (``$HESSIAN_DATA_DIR``, default ``./data``);
* ``cache_dir``: joblib's store (``$HESSIAN_CACHE_DIR``, default ``cache/`` in the project).

:func:`current` returns the one in force; :func:`use` replaces it (the CLI's ``--data-dir`` /
``--cache-dir``); :func:`using` does so for a ``with`` block (tests, benchmarks).

>>> with using(data_dir="/tmp/d", cache_dir="/tmp/c"):
...     current().data_dir.as_posix()
'/tmp/d'
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "HESSIAN_DATA_DIR"
CACHE_DIR_ENV = "HESSIAN_CACHE_DIR"
PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Workspace:
    """The data directory and the cache directory, as absolute paths."""

    data_dir: Path
    cache_dir: Path

    @classmethod
    def from_environment(cls) -> "Workspace":
        # an empty variable is unset (the shell's `X= command`), not the current folder
        return cls(Path(os.environ.get(DATA_DIR_ENV) or "data").absolute(),
                   Path(os.environ.get(CACHE_DIR_ENV) or PROJECT_DIR / "cache").absolute())


_override: Workspace | None = None


def current() -> Workspace:
    """The workspace in force: the one set by :func:`use`, else the environment's."""
    return _override if _override is not None else Workspace.from_environment()


def use(data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Workspace:
    """Set the workspace for this process; ``None`` keeps the current value of that field."""
    global _override
    base = current()
    _override = Workspace(Path(data_dir).absolute() if data_dir is not None else base.data_dir,
                          Path(cache_dir).absolute() if cache_dir is not None else base.cache_dir)
    return _override


@contextmanager
def using(data_dir: str | Path | None = None, cache_dir: str | Path | None = None):
    """``with using(cache_dir=tmp): ...`` then the previous workspace again."""
    global _override
    previous = _override
    use(data_dir, cache_dir)
    try:
        yield current()
    finally:
        _override = previous
