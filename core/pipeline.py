"""The cached API: config -> data -> trained model -> Problem -> method results.

Everything expensive is cached on disk (see :mod:`core.cache`), keyed by the config, the
method and its resolved options, a fingerprint of the data actually used (:func:`core.data.fingerprint`)
and the code version. This is what the CLI, the app and :mod:`core.studies` call; torch is imported only
when something has to be computed, so serving cached results stays light.

>>> from core.config import ExperimentConfig
>>> cfg = ExperimentConfig(dataset="synthetic", hidden=(4,), epochs=1, train_subset=200,
...                        hessian_batch_size=32)
>>> result = run(cfg, "exact_hessian")
>>> bool(abs(result.trace - result.spectrum.sum()) < 1e-4)
True
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from functools import lru_cache
from typing import NamedTuple

from . import workspace
from .cache import COMPUTE_COUNTS, CacheError, cached, code_version
from .config import ExperimentConfig
from .methods import options_for, resolve_options
from .results import Result, TrainingResult


def data_key(config: ExperimentConfig) -> str:
    """A fingerprint of the data ``config`` loads (file digests, not the folder's name)."""
    from .data import fingerprint

    return fingerprint(config, workspace.current().data_dir)


@lru_cache(maxsize=8)
def _dataset(config: ExperimentConfig, data_key: str, data_dir: str):
    from .data import load_dataset

    return load_dataset(config, data_dir)


def dataset(config: ExperimentConfig):
    """The configured :class:`~core.data.Dataset` (memoised in-process per data fingerprint)."""
    return _dataset(config, data_key(config), str(workspace.current().data_dir))


@contextmanager
def computing(config: ExperimentConfig):
    """Run the body with torch using ``config.threads`` threads (the count is part of every cache
    key: results can differ in the last bits with it), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_training(config: ExperimentConfig):
    """The estimate of training ``config`` (:func:`core.budget.check_training`), or BudgetExceeded."""
    from .budget import check_training as check

    examples = len(dataset(config).x_train)
    shape = size(config)
    return check(config.epochs, examples, shape.forward_macs, config.epochs * config.steps_per_epoch(examples),
                 config.checkpoints, layers=shape.num_layers)


def _training_precheck(config_dict: dict, data_key: str, version: str) -> None:
    check_training(ExperimentConfig.from_dict(config_dict))


@cached(returns=TrainingResult, precheck=_training_precheck)
def _train(config_dict: dict, data_key: str, version: str) -> TrainingResult:
    import torch

    from .training import train_model

    COMPUTE_COUNTS["train"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    torch.manual_seed(config.seed)
    with computing(config):
        return train_model(config, dataset(config))


def _training_args(config: ExperimentConfig) -> tuple:
    config = config.training_key()  # the studied checkpoint does not change the training
    return config.to_dict(), data_key(config), code_version()


def train(config: ExperimentConfig) -> TrainingResult:
    """Train (or load from the cache) the configured network.

    Returns:
        The weights and metrics (:class:`~core.results.TrainingResult`).
    Raises:
        BudgetExceeded: training would take longer than the budget (checked before it starts).
    """
    return _train(*_training_args(config))


def check_trainable(config: ExperimentConfig) -> None:
    """Refuse, before any work, a training that is not cached and does not fit the budget, and a
    checkpoint the training will not keep."""
    check_checkpoint(config)
    _train.check(*_training_args(config))


def check_checkpoint(config: ExperimentConfig) -> None:
    """Refuse a ``checkpoint`` past the snapshots the schedule keeps (fewer than ``checkpoints``
    when the run has fewer distinct log-spaced steps), before any training.

    Raises:
        ConfigError: naming how many snapshots this schedule keeps.
    """
    if config.checkpoint < 0:
        return
    from .config import ConfigError
    from .training import checkpoint_steps

    examples = len(dataset(config).x_train)
    kept = len(checkpoint_steps(config.epochs * config.steps_per_epoch(examples), config.checkpoints))
    if config.checkpoint >= kept:
        raise ConfigError("checkpoint", config.checkpoint,
                          f"an integer from -1 to {kept - 1}: this schedule ({config.epochs} epochs of "
                          f"{config.steps_per_epoch(examples)} steps) keeps {kept} distinct snapshots")


def training_admitted(config: ExperimentConfig) -> bool:
    """Whether :func:`train` would be served or admitted (:func:`check_trainable` without raising)."""
    from .budget import BudgetExceeded

    try:
        check_trainable(config)
    except BudgetExceeded:
        return False
    return True


def is_trained(config: ExperimentConfig) -> bool:
    """Whether :func:`train` would be served from the cache."""
    return _train.is_cached(*_training_args(config))


def build_problem(config: ExperimentConfig):
    """The trained model, its loss and the fixed Hessian batch, as a :class:`~core.problem.Problem`."""
    import torch

    from .models import build_model, model_inputs
    from .problem import Problem

    check_checkpoint(config)
    trained = train(config)
    data = dataset(config)
    model = build_model(config, data.input_dim, data.num_classes)
    state = trained.state if config.checkpoint == -1 else trained.checkpoints[config.checkpoint]["state"]
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    n = config.hessian_batch_size
    device = torch.device(config.device)
    x = model_inputs(config, data.x_train[:n])
    key = json.dumps([config.to_dict(), data_key(config), code_version()], sort_keys=True)
    return Problem(model.to(device), x.to(device), data.y_train[:n].to(device), loss=config.loss, key=key)


def num_params(config: ExperimentConfig) -> int:
    """P of the configured model (from the trained model's record)."""
    return train(config).num_params


@lru_cache(maxsize=64)
def _size(config: ExperimentConfig, data_key: str, trained: bool):
    from . import shapes

    off_rows = 0
    if trained:  # the record says which data was used; the model, which units are off on the batch
        used = train(config).dataset_used
        input_dim = config.input_dim(used)
        if config.architecture == "mlp" and dataset(config).dataset_used == used:
            off_rows = build_problem(config).known_off
    else:
        used, input_dim = None, dataset(config).input_dim
    return shapes.size(config, input_dim, config.num_classes, _constant_inputs(config, used), off_rows)


def _constant_inputs(config: ExperimentConfig, dataset_used: str | None) -> int:
    """How many input features are constant over the Hessian batch (whether they make a known null
    space is :func:`core.shapes.size`'s to say); 0 when the data at hand is not what the model was
    trained on."""
    from .problem import constant_features

    data = dataset(config)
    if dataset_used is not None and data.dataset_used != dataset_used:
        return 0
    return len(constant_features(data.x_train[:config.hessian_batch_size]))


def size(config: ExperimentConfig):
    """The :class:`~core.shapes.Size` of the configured problem (P, N, layers, what one curvature
    product costs), known before any training; once trained, with the rows of units off on the
    Hessian batch that a dense build skips."""
    return _size(config, data_key(config), is_trained(config))


def validate(config: ExperimentConfig, method: str, options: dict | None = None) -> dict:
    """``method``'s resolved options, checked for name, type and against this problem's P
    (e.g. Lanczos' ``k`` >= P), before any work; :class:`~core.methods.MethodError` otherwise."""
    from .methods import check_for_size

    resolved = resolve_options(method, options)
    check_for_size(method, resolved, size(config).num_params)
    return resolved


def check(config: ExperimentConfig, method: str, options: dict | None = None) -> dict:
    """Everything about running ``method`` on ``config`` that can be refused before any work:
    :func:`validate`, the training's budget, the method's budget.

    Returns:
        The resolved options.
    Raises:
        MethodError: a bad method or option (also one out of range for this P).
        BudgetExceeded: training or the method's cost estimate is over the budget.
    """
    from .methods import check_budget

    resolved = validate(config, method, options)
    check_trainable(config)
    check_budget(method, resolved, size(config))
    return resolved


def _result_precheck(config_dict: dict, method: str, options: dict, data_key: str, version: str,
                     budget_seconds: float | None) -> None:
    check(ExperimentConfig.from_dict(config_dict), method, options)


def _result_args(config: ExperimentConfig, method: str, resolved: dict) -> tuple:
    """The cache key's parts of a method's result: with the time budget for a method that spends
    it (what it finds depends on how long it may run), None for the others."""
    from .budget import Budget
    from .methods import get_spec

    spends = getattr(get_spec(method).cost, "spends_budget", False)
    return (config.to_dict(), method, resolved, data_key(config), code_version(),
            Budget().max_seconds if spends else None)


@cached(returns=Result, precheck=_result_precheck)
def _result(config_dict: dict, method: str, options: dict, data_key: str, version: str,
            budget_seconds: float | None) -> Result:
    import numpy as np
    import torch

    from .methods import compute_result

    COMPUTE_COUNTS[method] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    with computing(config):
        return compute_result(method, problem, options, raise_refusal=True)  # a refusal is never cached


def run(config: ExperimentConfig, method: str, options: dict | None = None) -> Result:
    """Run ``method`` on the configured problem (or load it from the cache).

    Args:
        config: the experiment.
        method: a registry name (``python -m core methods`` lists them).
        options: method options; unset ones take the registry's defaults.
    Returns:
        The :class:`~core.results.Result` (a failed one says why it could not run).
    Raises:
        MethodError: a bad method name or option (also one out of range for this P), before
            any work.
    """
    from .budget import BudgetExceeded
    from .methods import get_spec

    resolved = resolve_options(method, options)
    try:  # refused before training or any product (the entry's precheck)
        return _result(*_result_args(config, method, resolved))
    except BudgetExceeded as refusal:  # re-decided against the budget in force on every call
        return Result.failed(method, get_spec(method).family, str(refusal), resolved)


def is_cached(config: ExperimentConfig, method: str, options: dict | None = None) -> bool:
    """Whether :func:`run` would be served from the cache."""
    return _result.is_cached(*_result_args(config, method, resolve_options(method, options)))


def selection(methods) -> list[str]:
    """``methods`` with the reference (:data:`core.methods.REFERENCE`, the exact Hessian) first, no repeats."""
    from .methods import REFERENCE

    return list(dict.fromkeys([REFERENCE, *methods]))


def results_for(config: ExperimentConfig, methods, samples: int, workers: int | None = None,
                reference: bool = True, options: dict[str, dict] | None = None) -> dict[str, Result]:
    """Results of ``methods`` plus the exact Hessian, each with the options ``samples`` sets.

    Args:
        config: the experiment.
        methods: registry names.
        samples: the Hutchinson sample count (see :func:`core.methods.options_for`).
        workers: worker processes for the methods not cached yet (default
            :func:`core.parallel.workers`: none on fewer than 4 cores); a method that runs
            in the caller (its catalogue line) always runs here.
        reference: add the exact Hessian (False: ``methods`` only, e.g. the first answers of
            :func:`split_first_answers`).
        options: a method's options instead of those ``samples`` sets (the cheaper first answers
            of :attr:`FirstAnswers.quick`).
    Each method is announced to the progress listener (:func:`core.progress.stage`) as it starts.
    Returns:
        ``{name: Result}`` in the order of :func:`selection`.
    """
    from . import parallel, progress
    from .config import ConfigError
    from .methods import MethodError, get_spec

    names = selection(methods) if reference else list(dict.fromkeys(methods))
    given = options or {}
    options = {name: given.get(name) or options_for(name, samples) for name in names}
    workers = parallel.workers() if workers is None else workers
    pending = {}
    if workers > 1:
        farmed = [n for n in names if not parallel.in_caller(n) and not is_cached(config, n, options[n])]
        if len(farmed) >= 2 and training_admitted(config):
            train(config)  # once, here: the workers read the weights from the cache
            pending = parallel.submit(run, config, farmed, options, workers)
    results = {}
    try:
        order = [name for name in names if name not in pending] + list(pending)
        for i, name in enumerate(order):
            progress.stage(_stage_text(config, name, options[name]), i, len(order))
            try:
                results[name] = pending.pop(name).result() if name in pending else run(config, name, options[name])
            except MethodError as unfit:  # a default that does not fit this P: that method says so
                results[name] = Result.failed(name, get_spec(name).family, str(unfit), options[name])
            except (CacheError, ConfigError):  # the store or the configuration, not the method: one message
                raise
            except Exception as error:  # noqa: BLE001 - one method's crash is its line, never the others'
                results[name] = failed_line(name, error, options[name])
    finally:
        for future in pending.values():  # interrupted: what has not started does not start
            future.cancel()
    return {name: results[name] for name in names}


#: a dense method estimated to take longer than this is computed after the first answer, in the
#: background (its estimate is within 1-2x of its time). The page's own first answer already takes
#: 3-4 s of the two cores on the offline CNN, and a dense method computed there is slowed by the
#: browser redrawing beside it (the CNN's exact Hessian: 1.5 s alone, 2.4 s in the page); the job
#: has its imports done when the page has drawn. Benchmark row 14 on 2026-12-03: with 3 s the
#: offline CNN's first answer took 8.5 s, with 1 s 6.8-7.6 s (the full picture 13-16 s either way)
FIRST_ANSWER_SECONDS = 1.0
#: the same for a method whose estimate is an upper bound from iteration caps, typically 3-40x its
#: time (benchmark row 12: PyHessian's power iteration 0.75 s where its bound says 6.9 s)
FIRST_ANSWER_BOUND_SECONDS = 10.0


class FirstAnswers(NamedTuple):
    """What a page computes for its first answer and what it leaves to the background.

    ``now``: the methods computed before the page draws; ``later``: those its background job
    computes, in that order; ``quick``: the options of a method in both, computed now in the
    cheaper form its catalogue line gives (``first_answer``: Lanczos's top end alone) and later
    with its full options, which then replace it."""

    now: list[str]
    later: list[str]
    quick: dict[str, dict]


def split_first_answers(config: ExperimentConfig, methods, samples: int) -> FirstAnswers:
    """The methods of :func:`results_for` a page computes for its first answer, those it leaves to
    the background (:mod:`core.background`), and the cheaper first forms of some of them.

    Later: a method not cached whose estimate is over :data:`FIRST_ANSWER_SECONDS` (the dense
    exact spectra past a few thousand parameters) or, for an estimate that is an upper bound, over
    :data:`FIRST_ANSWER_BOUND_SECONDS` (PyHessian's power iteration and density, SLQ on larger nets). Now: everything else:
    the cached ones, the fast ones, the certified matrix-free references
    (:data:`~core.methods.DIRECTION_REFERENCES`: thick-restart Lanczos stops once its values are
    certified, usually in seconds, and is what the first answer is measured against while the
    exact matrix is pending), one the budget refuses (it says so at once) and one whose options
    do not fit (likewise). Quick: when a background job is needed anyway, a method computed now
    whose catalogue line has a ``first_answer`` and whose full result is not cached is computed
    now in that form and again, whole, at the end of the job (on the offline CNN Lanczos's top
    end takes 50 products and its both ends 128).
    """
    from .budget import Budget, BudgetExceeded
    from .config import ConfigError
    from .methods import DIRECTION_REFERENCES, MethodError, estimate, get_spec

    references = {name for names in DIRECTION_REFERENCES.values() for name in names
                  if getattr(get_spec(name).cost, "spends_budget", False)}
    budget, now, later, quick = Budget(), [], [], {}
    for name in selection(methods):
        options = options_for(name, samples)
        if is_cached(config, name, options):
            now.append(name)
            continue
        try:
            cost = estimate(name, resolve_options(name, options), size(config))
        except (MethodError, BudgetExceeded, ConfigError):
            now.append(name)  # refused or unfit: it says so now
            continue
        spec = get_spec(name)
        limit = FIRST_ANSWER_SECONDS if spec.dense else FIRST_ANSWER_BOUND_SECONDS
        slow = cost.fits(budget) and cost.seconds > limit and name not in references
        (later if slow else now).append(name)
        cheaper = {**options, **spec.first_answer}
        if not slow and cheaper != options:
            quick[name] = cheaper
    if not later:  # no job: every method now, whole
        quick = {}
    later += list(quick)
    return FirstAnswers(now, later, quick)


def failed_line(name: str, error: Exception, options: dict) -> Result:
    """A method that crashed, as its own failed :class:`Result` (not cached: the next call tries
    again) saying what failed; the traceback goes to the log (``core.pipeline``)."""
    import logging

    from .methods import CANNOT_RUN, get_spec

    logging.getLogger(__name__).error("%s failed on this problem", name, exc_info=error)
    spec = get_spec(name)
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return Result.failed(name, spec.family, f"{spec.label} {CANNOT_RUN}it failed on this problem "
                         f"({type(error).__name__}{': ' + text if text else ''})",
                         options)


def direction_source(config: ExperimentConfig, matrix: str = "hessian", dense: bool = True) -> dict[str, Result]:
    """The results of :data:`core.methods.DIRECTION_REFERENCES` for ``matrix``, in order, up to the
    first that has top eigenvectors (the exact matrix where admitted; Lanczos only past it; with
    ``dense=False`` a dense reference only when it is cached).
    :func:`core.tables.direction_reference` says which of them is the reference."""
    from .methods import DIRECTION_REFERENCES, get_spec

    found = {}
    for name in DIRECTION_REFERENCES[matrix]:
        if not dense and get_spec(name).dense and not is_cached(config, name):
            continue
        found[name] = run(config, name)
        if found[name].ok and found[name].top_vectors is not None:
            break
    return found


def cached_results(config: ExperimentConfig, methods, samples: int) -> dict[str, Result]:
    """The results of :func:`results_for` that are in the cache already (nothing is computed)."""
    return {m: run(config, m, options_for(m, samples)) for m in selection(methods)
            if is_cached(config, m, options_for(m, samples))}


def _stage_text(config: ExperimentConfig, name: str, options: dict) -> str:
    """A method's stage as a person reads it: its label and, when it is computed now and takes a
    second or more, its budget estimate (an upper bound; a method that spends the budget, at most
    the budget)."""
    from .budget import Budget, BudgetExceeded, readable_seconds
    from .config import ConfigError
    from .methods import MethodError, estimate, get_spec

    spec = get_spec(name)
    if is_cached(config, name, options):
        return spec.label
    try:
        seconds = estimate(name, resolve_options(name, options), size(config)).seconds
    except (MethodError, BudgetExceeded, ConfigError):
        return spec.label
    if getattr(spec.cost, "spends_budget", False):
        seconds = min(seconds, Budget().max_seconds)
    return spec.label if seconds < 1 else f"{spec.label}, estimated at most {readable_seconds(seconds)}"


def missing(config: ExperimentConfig, methods, samples: int) -> list[str]:
    """The methods of :func:`results_for` that are not cached yet."""
    return [m for m in selection(methods) if not is_cached(config, m, options_for(m, samples))]


def describe(config: ExperimentConfig) -> dict:
    """Training metrics and sizes for the header of a report."""
    trained = train(config)
    return {"config": config.to_dict(), **trained.metrics(), "code_version": code_version()}
