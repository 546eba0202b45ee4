"""Independent methods of one configuration in parallel worker processes, when cores are free.

The methods of one configuration share only the trained weights, which the caller trains (and
caches) first; each method can then run in its own process. A worker computes through
the function it is given (:func:`core.pipeline.run`), so every result is cached on its own, under the same per-entry file
lock as a serial run (two processes never compute one entry twice), and is the same result a
serial run gives (same seeds; a test compares them).

Workers come from a loky process pool (joblib's executor), started once and reused by later
calls, so the import of torch and the loading of the data (2-2.5 s a worker here) are paid once
per server.

How many: ``$HESSIAN_WORKERS`` if set (1 turns parallelism off), else half the cores when
there are at least 4, else none. A method whose catalogue line says ``runs_in="caller"`` (the
exact dense methods) always stays in the calling process: their eigensolver already uses every
core (MKL), and the H-vs-GGN block report reuses their matrices there
(:func:`core.curvature.dense.full_matrix`). On a 2-core machine there is no core
to spare beside them, so the default is serial; ``python -m benchmarks`` measures both.
"""

from __future__ import annotations

import atexit
import os

from .config import ConfigError, ExperimentConfig

#: environment variable: the number of worker processes (1: none)
WORKERS_ENV = "HESSIAN_WORKERS"


def workers(cores: int | None = None) -> int:
    """How many worker processes to use: ``$HESSIAN_WORKERS``, else ``cores // 2`` from 4 cores up, else 1.

    >>> workers(cores=2), workers(cores=8)
    (1, 4)
    """
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            count = int(value)
        except ValueError:
            count = 0
        limit = cores or os.cpu_count() or 1  # more processes than cores only contend for them
        if not 1 <= count <= limit:
            raise ConfigError(f"${WORKERS_ENV}", value, f"a whole number of worker processes from 1 to {limit} "
                              "(this machine's cores)")
        return count
    cores = cores or os.cpu_count() or 1
    return cores // 2 if cores >= 4 else 1


def _compute(run, config_dict: dict, method: str, options: dict, data_dir: str, cache_dir: str, threads: int):
    """In a worker: ``run(config, method, options)``, computed (and cached) there, or read from the cache."""
    import torch

    from . import workspace

    torch.set_num_threads(threads)
    with workspace.using(data_dir=data_dir, cache_dir=cache_dir):
        return run(ExperimentConfig.from_dict(config_dict), method, options)


#: the worker pool, kept between calls: ``{worker count: executor}`` (at most one)
_POOL: dict = {}


def _executor(count: int):
    """Our own loky pool of ``count`` workers, started on first use and reused.

    Not loky's process-wide reusable executor: joblib's ``Parallel(backend="loky")`` (the
    sweeps) reuses that one and expects it to have been made by joblib, and breaks otherwise.
    """
    from joblib.externals.loky import ProcessPoolExecutor

    pool = _POOL.get(count)
    if pool is None or getattr(getattr(pool, "_flags", None), "broken", None):
        for old in _POOL.values():
            old.shutdown(wait=False)
        _POOL.clear()
        pool = _POOL[count] = ProcessPoolExecutor(max_workers=count)
        atexit.register(pool.shutdown, wait=False)
    return pool


def in_caller(method: str) -> bool:
    """Whether ``method`` must run in the calling process (its catalogue line's ``runs_in``)."""
    from .methods import get_spec

    return get_spec(method).runs_in == "caller"


def submit(run, config: ExperimentConfig, methods: list[str], options: dict[str, dict], count: int) -> dict:
    """Start ``run(config, method, options[method])`` for each of ``methods`` on ``count`` workers
    (``run`` an importable function: it is sent by reference); ``{method: future}``."""
    from . import workspace

    here = workspace.current()
    threads = max(1, (os.cpu_count() or 1) // (2 * count))
    executor = _executor(count)
    return {name: executor.submit(_compute, run, config.to_dict(), name, options[name], str(here.data_dir),
                                  str(here.cache_dir), threads)
            for name in methods}
