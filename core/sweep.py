"""Sweeps: a grid of configurations times methods and their options, one cached cell each, run
serially, on local processes (joblib's ``loky``) or on a Dask cluster (joblib's ``dask``
backend), with one code path.

A cell is ``(config, method, options)`` and runs :func:`compute_cell`, an importable function
(not a closure) that sets the worker's workspace and calls :func:`core.pipeline.run`, so it is
cached like every other result: the driver serves cached cells itself and sends only the
missing ones, and a sweep that is stopped and started again computes only the cells it lacks.
Identical cells running at once are safe: the cache holds a file lock while computing an entry
and writes it atomically. The cache must be on storage every worker sees: before sending
cells, :func:`check_workers_can_write` has each worker write into it and fails with the worker's
name otherwise. A refused cell (over budget) or a failing one is a row that says why; the
others go on. Arguments are plain data (config dicts, option dicts), never tensors.

A sweep file (TOML)::

    [grid]                      # any ExperimentConfig field, each a list of values
    hidden = ["4", "8", "16,8"]
    activation = ["relu", "tanh"]
    seed = [0, 1]

    [config]                    # fixed fields
    dataset = "digits"
    epochs = 3

    [methods]                   # method -> options; an option given as a list is swept too
    lanczos = {k = 10}
    hutchinson = {samples = [50, 100]}
    kfac = {}
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import workspace
from .config import FIELDS, ConfigError, ExperimentConfig
from .methods import REFERENCE, MethodError, get_spec, resolve_options

#: the most cells one sweep may ask for (each is also budget-checked on its own)
MAX_CELLS = 5000
#: the wall time one sweep may take as a whole, over its workers (``$HESSIAN_MAX_SWEEP_SECONDS``)
MAX_SWEEP_SECONDS = 8 * 3600


class SweepError(ValueError):
    """A bad sweep specification; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Cell:
    """One (configuration, method, options) of a sweep."""

    config: ExperimentConfig
    method: str
    options: tuple[tuple[str, object], ...]

    @property
    def options_dict(self) -> dict:
        return dict(self.options)


def _field_value(name: str, value):
    """A sweep file's or ``--grid``'s value of field ``name`` as the field takes it (its facts:
    :data:`core.config.FIELDS`); a text or a number is parsed, a list of widths kept."""
    if name not in FIELDS:
        raise SweepError(f"grid key {name!r} is not a configuration field: one of {', '.join(FIELDS)}")
    if name == "hidden" and isinstance(value, list):
        return tuple(value)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return FIELDS[name].parse(str(value))
    return value


def expand(grid: dict[str, list], fixed: dict, methods: dict[str, dict]) -> list[Cell]:
    """Every cell of ``grid`` (field -> values) x ``methods`` (name -> options, lists swept).

    Raises:
        SweepError, ConfigError, MethodError: a bad key or value, before any work.

    >>> cells = expand({"seed": [0, 1]}, {"dataset": "synthetic"}, {"hutchinson": {"samples": [10, 20]}})
    >>> len(cells), cells[0].method, cells[0].options_dict["samples"]
    (4, 'hutchinson', 10)
    """
    if not methods:
        raise SweepError("a sweep needs at least one method")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"grid key {name!r} must be a non-empty list of values, got {values!r}")
    base = {name: _field_value(name, value) for name, value in fixed.items()}
    names = list(grid)
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_CELLS:
        raise SweepError(f"the grid has {size:,} configurations; at most {MAX_CELLS:,} cells per sweep")
    configs = []
    for combination in itertools.product(*(grid[n] for n in names)):
        values = {**base, **{n: _field_value(n, v) for n, v in zip(names, combination)}}
        configs.append(ExperimentConfig(**values))
    cells = []
    for method, options in methods.items():
        get_spec(method)
        if not isinstance(options, dict):
            raise SweepError(f"methods.{method} must be a table of options, got {options!r}")
        swept = {k: v if isinstance(v, list) else [v] for k, v in options.items()}
        for key, values in swept.items():
            if not values:  # an empty list would sweep nothing and write an empty table
                raise SweepError(f"methods.{method}.{key} is an empty list: give a value or a non-empty list")
        for combination in itertools.product(*swept.values()):
            resolved = resolve_options(method, dict(zip(swept, combination)))
            cells += [Cell(config, method, tuple(sorted(resolved.items()))) for config in configs]
            if len(cells) > MAX_CELLS:
                raise SweepError(f"the sweep has more than {MAX_CELLS:,} cells (configurations x methods x options); "
                                 "split it")
    return list(dict.fromkeys(cells))


#: the largest sweep file read (a grid of 5,000 cells takes a few kB)
MAX_SWEEP_FILE_BYTES = 1 * 2**20


def load_file(path: str | Path) -> tuple[dict, dict, dict]:
    """``(grid, config, methods)`` from a TOML sweep file, with one clear line on a bad key."""
    import stat
    import tomllib

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise SweepError(f"sweep file {path}: not a regular file")
        if info.st_size > MAX_SWEEP_FILE_BYTES:
            raise SweepError(f"sweep file {path}: {info.st_size:,} bytes, over the {MAX_SWEEP_FILE_BYTES:,} a sweep "
                             "file may have")
        text = Path(path).read_bytes().decode("utf-8")
        spec = tomllib.loads(text)
    except OSError as error:
        raise SweepError(f"sweep file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SweepError(f"sweep file {path}: not UTF-8 text (TOML is)") from None
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep file {path}: not valid TOML ({error})") from None
    unknown = set(spec) - {"grid", "config", "methods"}
    if unknown:
        raise SweepError(f"sweep file {path}: unknown section {sorted(unknown)[0]!r}; sections are grid, config, methods")
    sections = {name: spec.get(name, {}) for name in ("grid", "config", "methods")}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise SweepError(f"sweep file {path}: [{name}] must be a table (key = value lines under [{name}]), got "
                             f"{type(section).__name__} {section!r:.60}")
    return sections["grid"], sections["config"], sections["methods"]


# ----------------------------------------------------------------------------- cells
def compute_cell(config_dict: dict, method: str, options: dict, cache_dir: str, data_dir: str):
    """Run one cell on whichever process or worker calls it; returns its Result (or the error)."""
    from . import library_warnings, pipeline

    library_warnings.quiet()
    workspace.use(data_dir, cache_dir)
    try:
        return pipeline.run(ExperimentConfig.from_dict(config_dict), method, options)
    except (ConfigError, MethodError) as error:
        from .results import Result

        return Result.failed(method, get_spec(method).family, str(error), options)


def probe_write(cache_dir: str) -> str:
    """Write and remove a file in ``cache_dir``; return this worker's host name (or raise)."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".probe-", delete=True) as handle:
        handle.write(b"ok")
    return socket.gethostname()


def check_workers_can_write(client, cache_dir: str) -> None:
    """Every Dask worker writes into the cache directory, or :class:`SweepError` names it."""
    for worker in client.scheduler_info()["workers"]:
        try:
            client.submit(probe_write, cache_dir, workers=[worker], pure=False).result(timeout=60)
        except Exception as error:  # noqa: BLE001 - any failure means the cache is not shared
            raise SweepError(f"worker {worker} cannot write the cache directory {cache_dir} ({error}); put the "
                             "cache on storage every worker sees (--cache-dir)") from None


# ----------------------------------------------------------------------------- cost
def sweep_cost(cells: list[Cell], workers: int) -> float:
    """Estimated wall seconds of the cells not yet cached, spread over ``workers``.

    Each configuration's training is counted once, unless cached; each method at its estimate, a
    budget-spending one at most the per-run budget, and a cell its own guard refuses at nothing
    (it is refused at once). The sum is divided by the workers: cells are independent.
    """
    from . import pipeline
    from .budget import Budget, BudgetExceeded
    from .methods import estimate

    budget = Budget()
    total, trainings = 0.0, set()
    for cell in cells:
        if pipeline.is_cached(cell.config, cell.method, cell.options_dict):
            continue
        key = json.dumps(cell.config.training_key().to_dict(), sort_keys=True)
        if key not in trainings:
            trainings.add(key)
            if not pipeline.is_trained(cell.config):
                try:
                    total += pipeline.check_training(cell.config).seconds
                except BudgetExceeded:
                    continue
        spec = get_spec(cell.method)
        cost = estimate(cell.method, resolve_options(cell.method, cell.options_dict), pipeline.size(cell.config))
        if getattr(spec.cost, "spends_budget", False):
            total += min(cost.seconds, budget.max_seconds)
        elif cost.fits(budget):
            total += cost.seconds
    return total / max(1, workers)


def check_sweep_cost(cells: list[Cell], workers: int) -> float:
    """:func:`sweep_cost`, or :class:`SweepError` when it is over ``$HESSIAN_MAX_SWEEP_SECONDS``
    (default :data:`MAX_SWEEP_SECONDS`), before any cell runs."""
    from .budget import _budget_value, readable_seconds

    limit = _budget_value("HESSIAN_MAX_SWEEP_SECONDS", MAX_SWEEP_SECONDS)
    seconds = sweep_cost(cells, workers)
    if seconds > limit:
        raise SweepError(f"the sweep is refused: about {readable_seconds(seconds)} for its {len(cells):,} cells on "
                         f"{workers} worker{'s' * (workers != 1)}, over the sweep budget of {readable_seconds(limit)}. "
                         "Sweep fewer values or methods, or raise $HESSIAN_MAX_SWEEP_SECONDS.")
    return seconds


# ----------------------------------------------------------------------------- Dask
#: how long to wait for a Dask scheduler to answer
CONNECT_TIMEOUT_S = 10
_SCHEDULER_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss)://)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$")


def check_scheduler_address(address: str) -> str:
    """``address`` if it reads as a Dask scheduler's ``[tcp://]host:port``, else :class:`SweepError`.

    >>> check_scheduler_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    """
    match = _SCHEDULER_ADDRESS.match(address or "")
    if not match or not 0 < int(match.group(1)) < 65536:
        raise SweepError(f"--dask-scheduler {address!r} is not a scheduler address: give [tcp://]HOST:PORT, "
                         "e.g. tcp://127.0.0.1:8786")
    return address


def connect(address: str):
    """A ``distributed.Client`` on the scheduler at ``address``, or :class:`SweepError` when it does
    not answer within :data:`CONNECT_TIMEOUT_S`."""
    from distributed import Client

    try:
        return Client(check_scheduler_address(address), timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        raise SweepError(f"no Dask scheduler answered at {address} within {CONNECT_TIMEOUT_S} s "
                         f"({type(error).__name__}); start one (dask scheduler) or use --dask-local N") from None


# ----------------------------------------------------------------------------- driver
def run_sweep(cells: list[Cell], jobs: int = 1, dask_scheduler: str | None = None, dask_local: int = 0,
              show_bar: bool = False) -> tuple[dict[Cell, object], dict[str, int]]:
    """Run ``cells`` (plus the exact Hessian of each configuration, the errors' reference).

    Args:
        jobs: local worker processes (``loky``); 1 runs in this process.
        dask_scheduler: ``tcp://host:port`` of an existing Dask scheduler.
        dask_local: start a ``distributed.LocalCluster`` with this many workers (and stop it).
    Returns:
        ``(results by cell, counts)`` with counts of ``cached``, ``computed`` and ``failed`` cells.
    """
    from joblib import Parallel, delayed, parallel_config
    from tqdm import tqdm

    from . import pipeline
    from .budget import readable_seconds

    if dask_scheduler:
        check_scheduler_address(dask_scheduler)

    exact = {Cell(c.config, REFERENCE, tuple(sorted(resolve_options(REFERENCE).items())))
             for c in cells}
    everything = list(dict.fromkeys([*exact, *cells]))
    results, missing = {}, []
    for cell in everything:
        if pipeline.is_cached(cell.config, cell.method, cell.options_dict):
            results[cell] = pipeline.run(cell.config, cell.method, cell.options_dict)
        else:
            missing.append(cell)
    counts = {"cached": len(results), "computed": 0, "failed": 0}

    bar = None

    def costed(workers: int) -> None:  # the whole sweep's estimate before its first cell, then the bar
        nonlocal bar
        seconds = check_sweep_cost(missing, workers)
        if show_bar:
            print(f"{len(missing):,} cells to compute: about {readable_seconds(seconds)} on {workers} "
                  f"worker{'s' * (workers != 1)}", file=sys.stderr)
        bar = tqdm(total=len(everything), initial=len(results), desc="sweep cells", unit="cell", disable=not show_bar)

    place = workspace.current()
    args = [(c.config.to_dict(), c.method, c.options_dict, str(place.cache_dir), str(place.data_dir)) for c in missing]

    def collect(found):
        for cell, result in zip(missing, found):
            results[cell] = result
            counts["computed" if result.ok else "failed"] += 1
            if not result.ok and show_bar:
                tqdm.write(f"failed: {cell.config.label()} {cell.method}: {result.error.splitlines()[0][:200]}")
            bar.update(1)
            bar.set_postfix(cached=counts["cached"], computed=counts["computed"], failed=counts["failed"])

    if missing and (dask_scheduler or dask_local):
        from distributed import Client, LocalCluster

        if dask_local:
            costed(dask_local)
        cluster = LocalCluster(n_workers=dask_local, threads_per_worker=1, processes=True,
                               dashboard_address=None) if dask_local else None
        try:
            with (Client(cluster) if cluster is not None else connect(dask_scheduler)) as client:
                if not dask_local:
                    costed(max(1, len(client.scheduler_info()["workers"])))
                check_workers_can_write(client, str(place.cache_dir))
                with parallel_config(backend="dask"):
                    collect(Parallel(n_jobs=-1)(delayed(compute_cell)(*a) for a in args))
        finally:
            if cluster is not None:
                cluster.close()
    elif missing and jobs > 1:
        costed(jobs)
        collect(Parallel(n_jobs=jobs, backend="loky")(delayed(compute_cell)(*a) for a in args))
    elif missing:
        costed(1)
        collect(compute_cell(*a) for a in args)
    if bar is not None:
        bar.close()
    return results, counts


def table(cells: list[Cell], results: dict) -> list[dict]:
    """One tidy row per cell: the configuration's fields, method, options, status, the errors
    against the exact Hessian of the same configuration, the cost, P and the code version."""
    from . import pipeline
    from .cache import code_version
    from .tables import comparison_row

    rows = []
    for cell in cells:
        result = results[cell]
        exact = results.get(Cell(cell.config, REFERENCE, tuple(sorted(resolve_options(REFERENCE).items()))))
        config = cell.config.to_dict()
        config["hidden"] = ",".join(map(str, cell.config.hidden))
        try:
            p = pipeline.size(cell.config).num_params
        except Exception:  # noqa: BLE001 - a configuration that cannot load still gets its row
            p = None
        comparison = comparison_row(result, exact)
        rows.append({**config, "method": cell.method, "options": json.dumps(cell.options_dict, sort_keys=True),
                     "status": "ok" if result.ok else ("refused" if "refused" in (result.error or "") else "failed"),
                     **{k: comparison[k] for k in ("top1", "top1_rel_error", "max_topk_rel_error", "trace",
                                                    "trace_rel_error", "matvecs", "backward_passes", "seconds",
                                                    "peak_memory_mib", "error")},
                     "P": p, "code_version": code_version()})
    return rows


def write_table(rows: list[dict], out: str | Path) -> list[Path]:
    """CSV always; Parquet beside it when pyarrow is installed, else JSON. Returns the paths."""
    import pandas as pd

    out = Path(out)
    frame = pd.DataFrame(rows)
    csv_path = out.with_suffix(".csv")
    frame.to_csv(csv_path, index=False)
    try:
        import pyarrow  # noqa: F401

        other = out.with_suffix(".parquet")
        frame.to_parquet(other, index=False)
    except ImportError:
        other = out.with_suffix(".json")
        other.write_text(frame.to_json(orient="records", indent=1))
    return [csv_path, other]


#: the columns of a sweep table that describe the configuration (the rest are results)
CONFIG_COLUMNS = tuple(FIELDS)


#: the largest sweep table the Sweep page reads (a 5,000-cell sweep writes about 5 MiB)
MAX_TABLE_BYTES = 64 * 2**20


def table_path(text: str, root: Path) -> Path:
    """The sweep table a page may read at ``text``: a regular ``.csv`` file of at most
    :data:`MAX_TABLE_BYTES` under ``root`` (the folder the server was started in), relative paths
    taken from there. Anything else is one message that says nothing about files elsewhere (no
    existence oracle for paths outside ``root``; no FIFO or device is opened).

    Raises:
        SweepError: what is wrong, in one line.
    """
    import stat

    root = Path(root).resolve()
    path = (root / Path(text).expanduser()).resolve()
    if root != path and root not in path.parents:
        raise SweepError(f"only sweep tables under {root} (the folder the app was started in) are read")
    if path.suffix.lower() != ".csv":
        raise SweepError(f"{path.relative_to(root)} is not a .csv sweep table")
    try:
        info = path.stat()
    except OSError:
        raise SweepError(f"{path} not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise SweepError(f"{path} is not a regular file")
    if info.st_size > MAX_TABLE_BYTES:
        raise SweepError(f"{path} is {info.st_size / 2**20:.0f} MiB, over the {MAX_TABLE_BYTES // 2**20} MiB a sweep "
                         "table may have here")
    return path


def read_table(source) -> list[dict]:
    """A sweep table written by :func:`write_table` (a path or a file-like CSV), as rows.

    Raises:
        SweepError: not a sweep table (a column it needs is missing).
    """
    import pandas as pd

    try:
        frame = pd.read_csv(source, comment="#")
    except (OSError, ValueError) as error:
        raise SweepError(f"cannot read the sweep table: {error}") from None
    needed = {"method", "status", "seconds", "max_topk_rel_error", "trace_rel_error"}
    if not needed <= set(frame.columns):
        raise SweepError(f"not a sweep table: missing columns {sorted(needed - set(frame.columns))}")
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def swept_fields(rows: list[dict]) -> list[str]:
    """The configuration columns that take more than one value in ``rows``."""
    return [c for c in CONFIG_COLUMNS if len({str(r.get(c)) for r in rows}) > 1]


def default_jobs() -> int:
    """Worker processes for ``-j 0``: the machine's cores."""
    return os.cpu_count() or 1
