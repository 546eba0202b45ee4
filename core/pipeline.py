"""The one-direction data flow: config -> data -> trained model -> Problem -> method results.

Everything expensive is cached on disk by joblib (see :mod:`core.cache`), keyed by the
config, the method and its resolved options, the data directory and the code version. This
is the API the CLI and the app use; neither imports torch-level modules directly.

>>> from core.config import ExperimentConfig
>>> cfg = ExperimentConfig(dataset="synthetic", hidden=(4,), epochs=1, train_subset=200,
...                        hessian_batch_size=32)
>>> result = run(cfg, "exact_hessian")
>>> abs(result.trace - result.spectrum.sum()) < 1e-4
True
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import exact
from .budget import check_dense
from .cache import COMPUTE_COUNTS, cached, code_version
from .config import ExperimentConfig
from .data import Dataset, default_data_dir, load_dataset
from .methods import get_spec, resolve_options, run_method
from .model import build_mlp
from .problem import Problem
from .results import Result
from .training import TrainingResult, train_model


def _data_key(data_dir) -> str:
    return str(Path(data_dir if data_dir is not None else default_data_dir()).resolve())


@lru_cache(maxsize=8)
def _dataset(config: ExperimentConfig, data_key: str) -> Dataset:
    return load_dataset(config, data_key)


def dataset(config: ExperimentConfig, data_dir=None) -> Dataset:
    """The configured dataset (memoised in-process; loading is cheap next to training)."""
    return _dataset(config, _data_key(data_dir))


@cached
def _train(config_dict: dict, data_key: str, version: str, progress=None) -> TrainingResult:
    COMPUTE_COUNTS["train"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    torch.manual_seed(config.seed)
    return train_model(config, _dataset(config, data_key), progress=progress)


def train(config: ExperimentConfig, data_dir=None, progress=None) -> TrainingResult:
    """Train (or load from the cache) the configured network."""
    return _train(config.to_dict(), _data_key(data_dir), code_version(), progress=progress)


def is_trained(config: ExperimentConfig, data_dir=None) -> bool:
    return _train.is_cached(config.to_dict(), _data_key(data_dir), code_version())


def build_problem(config: ExperimentConfig, data_dir=None, progress=None) -> Problem:
    """The trained model, the mean cross-entropy and the fixed Hessian batch."""
    trained = train(config, data_dir, progress=progress)
    data = dataset(config, data_dir)
    model = build_mlp(config.layer_sizes(data.dataset_used), config.activation, config.seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in trained.state.items()})
    n = config.hessian_batch_size
    return Problem(model, data.x_train[:n], data.y_train[:n])


def num_params(config: ExperimentConfig, data_dir=None) -> int:
    return config.num_params(dataset(config, data_dir).dataset_used)


@cached
def _run(config_dict: dict, method: str, options: dict, data_key: str, version: str) -> Result:
    COMPUTE_COUNTS[method] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config, data_key)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    return run_method(method, problem, options)


def run(config: ExperimentConfig, method: str, options: dict | None = None, data_dir=None) -> Result:
    """Run ``method`` on the configured problem (or load it from the cache).

    Bad method names and options raise :class:`~core.methods.MethodError` before any work.
    """
    opts = resolve_options(method, options)
    return _run(config.to_dict(), method, dict(sorted(opts.items())), _data_key(data_dir), code_version())


def is_cached(config: ExperimentConfig, method: str, options: dict | None = None, data_dir=None) -> bool:
    opts = resolve_options(method, options)
    return _run.is_cached(config.to_dict(), method, dict(sorted(opts.items())),
                          _data_key(data_dir), code_version())


@cached
def _blocks(config_dict: dict, data_key: str, version: str) -> dict:
    COMPUTE_COUNTS["hessian_vs_ggn_blocks"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config, data_key)
    check_dense(problem.num_params, problem.batch_size, len(config.hidden) + 1)
    hessian = exact.dense_matrix(problem, "hessian")
    ggn = exact.dense_matrix(problem, "ggn")
    return {"activation": config.activation, "blocks": exact.block_report(problem, hessian, ggn)}


def hessian_vs_ggn(config: ExperimentConfig, data_dir=None) -> dict:
    """Per layer-pair comparison of the dense Hessian and GGN (see :func:`core.exact.block_report`),
    with the smallest eigenvalue of each (from the cached exact spectra, not recomputed)."""
    report = dict(_blocks(config.to_dict(), _data_key(data_dir), code_version()))
    for name, key in (("exact_hessian", "hessian_min_eigenvalue"), ("exact_ggn", "ggn_min_eigenvalue")):
        result = run(config, name, data_dir=data_dir)
        report[key] = float(result.spectrum[0]) if result.ok else None
    return report


def describe(config: ExperimentConfig, data_dir=None) -> dict:
    """Training metrics and sizes for the header of a report."""
    trained = train(config, data_dir)
    return {"config": config.to_dict(), "num_params": num_params(config, data_dir),
            **trained.metrics(), "code_version": code_version()}


@cached
def _trace_study(config_dict: dict, samples: int, repeats: int, data_key: str, version: str) -> dict:
    from curvlinops import hutchpp_trace

    from .methods import matrix_free
    from .metrics import sample_curve

    COMPUTE_COUNTS["trace_study"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config, data_key)
    hutchinson_runs = [matrix_free.hutchinson_samples(problem, samples, seed) for seed in range(repeats)]
    counts = sorted({int(c) for c in np.unique(np.geomspace(1, samples, 12).round())})
    budgets = [b for b in sorted({max(3, 3 * round(c / 3)) for c in counts}) if b <= samples and b < problem.num_params]
    hutchpp_rows = [{"samples": budget,
                     "estimates": [matrix_free.curvlinops_trace(hutchpp_trace, problem, budget, seed)
                                   for seed in range(repeats)]}
                    for budget in budgets]
    return {"samples": samples, "repeats": repeats, "counts": counts,
            "hutchinson_runs": [r.tolist() for r in hutchinson_runs],
            "hutchinson_curve": sample_curve(hutchinson_runs, counts),
            "hutchpp": hutchpp_rows}


def trace_study(config: ExperimentConfig, samples: int = 100, repeats: int = 10, data_dir=None) -> dict:
    """Hutchinson estimate vs sample count over ``repeats`` seeds, and Hutch++ at equal matvecs.

    Curves carry mean, std and 10/90 % quantiles; compare them with the exact trace (from
    ``run(config, "exact_hessian")``) for the error.
    """
    if samples < 1 or repeats < 2:
        from .config import ConfigError

        raise ConfigError("samples/repeats", (samples, repeats), "samples >= 1 and repeats >= 2")
    return _trace_study(config.to_dict(), int(samples), int(repeats), _data_key(data_dir), code_version())
