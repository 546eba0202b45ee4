"""Studies beyond one method on one configuration, each cached like a method result.

* :func:`trace_study`: Hutchinson's estimate against the sample count over repeats
  (:func:`hutchinson_study`, what Home reads), and Hutch++ at equal products (paper Fig. 3
  and beyond);
* :func:`hessian_vs_ggn`: the dense Hessian against the dense GGN, block by block;
* :func:`width_sweep`: cost and error of each method as the hidden width grows;
* :func:`warm`: everything the app's pages read for a configuration, computed ahead.
"""

from __future__ import annotations

import math

from .budget import BudgetExceeded
from .cache import COMPUTE_COUNTS, cached, code_version
from .config import ConfigError, ExperimentConfig
from .methods import DEFAULT_SAMPLES, GGN_REFERENCE, REFERENCE, check_budget, get_spec, round_to_multiple
from .pipeline import build_problem, check_trainable, computing, data_key, num_params, results_for, run, size

#: independent repeats of the trace study unless chosen
DEFAULT_REPEATS = 10


def _hutchinson_precheck(config_dict: dict, samples: int, repeats: int, data_key: str, version: str) -> None:
    _check_study(ExperimentConfig.from_dict(config_dict), samples, repeats)


def _hutchpp_precheck(config_dict: dict, samples: int, repeats: int, data_key: str, version: str) -> None:
    _check_study(ExperimentConfig.from_dict(config_dict), samples, repeats, hutchpp=True)


@cached(returns=dict, precheck=_hutchinson_precheck)
def _hutchinson_study(config_dict: dict, samples: int, repeats: int, data_key: str, version: str) -> dict:
    from .methods.matrix_free import hutchinson_samples
    from .metrics import sample_curve

    COMPUTE_COUNTS["hutchinson_study"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    with computing(config):
        runs = [hutchinson_samples(problem, samples, seed) for seed in range(repeats)]
    counts = _sample_counts(samples)
    return {"samples": samples, "repeats": repeats, "counts": counts,
            "hutchinson_runs": [r.tolist() for r in runs], "hutchinson_curve": sample_curve(runs, counts)}


@cached(returns=list, precheck=_hutchpp_precheck)
def _hutchpp_study(config_dict: dict, samples: int, repeats: int, data_key: str, version: str) -> list:
    from curvlinops import hutchpp_trace

    from .methods.matrix_free import curvlinops_trace

    COMPUTE_COUNTS["hutchpp_study"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    with computing(config):
        return [{"samples": budget,
                 "estimates": [curvlinops_trace(hutchpp_trace, problem, budget, seed) for seed in range(repeats)]}
                for budget in _hutchpp_budgets(samples, problem.num_params)]


def _hutchpp_budgets(samples: int, num_params: int) -> list[int]:
    """The product counts Hutch++ is run at: the sample counts rounded to its multiple, below P."""
    multiple = get_spec("hutchpp").budget_multiple
    return [b for b in sorted({round_to_multiple(c, multiple) for c in _sample_counts(samples)})
            if b <= samples and b < num_params]


def _sample_counts(samples: int) -> list[int]:
    """About 12 log-spaced sample counts from 1 to ``samples``, where the curves are read."""
    import numpy as np

    return sorted({int(c) for c in np.unique(np.geomspace(1, samples, 12).round())})


def _check_study(config: ExperimentConfig, samples: int, repeats: int, hutchpp: bool = False) -> None:
    """Refuse before any work: counts out of range, or the study over the budget.

    A study's cost is its methods' estimate (:func:`core.methods.check_budget`) for all the
    products of all its repeats at once (Hutchinson: ``samples`` a repeat; Hutch++: the sum of
    its product counts a repeat): exact for the time, an upper bound for the memory (the
    repeats run one after the other). The refusal reads like a method's, with the largest P.

    Raises:
        ConfigError: ``samples`` < 1 or ``repeats`` < 2.
        BudgetExceeded: training or the study would not fit the budget.
    """
    if samples < 1 or repeats < 2:
        raise ConfigError("samples/repeats", (samples, repeats), "samples >= 1 and repeats >= 2")
    check_trainable(config)
    shape = size(config)
    products = {"hutchinson": samples * repeats}
    if hutchpp:
        products["hutchpp"] = sum(_hutchpp_budgets(samples, shape.num_params)) * repeats
    for method, count in products.items():
        check_budget(method, {"samples": count}, shape,
                     label=f"The {get_spec(method).label} study ({repeats} repeats, {count:,} products)")


def hutchinson_study(config: ExperimentConfig, samples: int = DEFAULT_SAMPLES,
                     repeats: int = DEFAULT_REPEATS) -> dict:
    """Hutchinson's estimate against the sample count over ``repeats`` independent seeds.

    The part of :func:`trace_study` the Home page's verdict reads; cached on its own so Home
    does not wait for the Hutch++ repeats (about 0.2 s against 1 s on the offline default).

    Raises:
        ConfigError, BudgetExceeded: before any work (:func:`_check_study`).
    Returns:
        ``{"samples", "repeats", "counts", "hutchinson_runs": [[v^T H v of each probe, in order]],
        "hutchinson_curve": [{samples, mean, std, q10, q90}]}`` (the curve: the running means'
        statistics over the repeats).
    """
    return _hutchinson_study(config.to_dict(), int(samples), int(repeats), data_key(config), code_version())


def trace_study(config: ExperimentConfig, samples: int = DEFAULT_SAMPLES, repeats: int = DEFAULT_REPEATS) -> dict:
    """Hutchinson estimate vs sample count over ``repeats`` seeds, and Hutch++ at equal products.

    Args:
        config: the experiment.
        samples: the largest sample count (products per repeat).
        repeats: independent repeats (seeds ``0 .. repeats-1``), at least 2.
    Raises:
        ConfigError, BudgetExceeded: before any work (:func:`_check_study`).
    Returns:
        :func:`hutchinson_study`'s result plus ``"hutchpp": [{samples, estimates}]``; compare
        with the exact trace for errors.
    """
    key = (config.to_dict(), int(samples), int(repeats), data_key(config), code_version())
    _hutchpp_study.check(*key)  # both parts refused before either computes
    study = dict(hutchinson_study(config, samples, repeats))
    study["hutchpp"] = _hutchpp_study(*key)
    return study


def _blocks_precheck(config_dict: dict, data_key: str, version: str) -> None:
    from .budget import check_dense

    config = ExperimentConfig.from_dict(config_dict)
    check_trainable(config)
    check_dense(size(config), matrices=4, label="The Hessian-vs-GGN block report")


@cached(returns=dict, precheck=_blocks_precheck)
def _blocks(config_dict: dict, data_key: str, version: str) -> dict:
    from .curvature import dense

    COMPUTE_COUNTS["hessian_vs_ggn_blocks"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    with computing(config):
        hessian = dense.full_matrix(problem, "hessian")
        ggn = dense.full_matrix(problem, "ggn")
        return {"activation": config.activation, "blocks": dense.block_report(problem, hessian, ggn),
                "layer_spectra": {"hessian": dense.layer_block_spectra(problem, hessian),
                                  "ggn": dense.layer_block_spectra(problem, ggn)}}


def _block_spectra_precheck(config_dict: dict, data_key: str, version: str) -> None:
    from .budget import check_dense

    config = ExperimentConfig.from_dict(config_dict)
    check_trainable(config)
    check_dense(size(config), label="The blocks' spectra (block heterogeneity)")


@cached(returns=dict, precheck=_block_spectra_precheck)
def _block_spectra(config_dict: dict, data_key: str, version: str) -> dict:
    import numpy as np

    from .curvature import dense

    COMPUTE_COUNTS["block_spectra"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    with computing(config):
        hessian = dense.full_matrix(problem, "hessian")
        return {"blocks": [{"layer": layer.label, "kind": layer.kind,
                            "eigenvalues": np.linalg.eigvalsh(hessian[layer.slice, layer.slice].double().cpu().numpy())}
                           for layer in problem.layers]}


def block_heterogeneity(config: ExperimentConfig) -> dict:
    """How much the spectra of the Hessian's diagonal blocks (one per parameterised layer: a
    transformer's query, key, value, output, MLP and LayerNorm layers; a CNN's convolutions)
    differ: the pairwise Jensen-Shannon distances of their densities
    (:func:`core.metrics.block_spectrum_distances`, Zhang et al. 2024) and their mean.

    Returns:
        ``{"blocks": [{"layer", "kind", "size", "top", "bottom"}], "distances", "mean_distance"}``.
    Raises:
        BudgetExceeded: the dense Hessian does not fit the budget.
    """
    import numpy as np

    from .metrics import block_spectrum_distances

    found = _block_spectra(config.to_dict(), data_key(config), code_version())["blocks"]
    distances = block_spectrum_distances([b["eigenvalues"] for b in found])
    pairs = distances[np.triu_indices(len(found), 1)]
    return {"blocks": [{"layer": b["layer"], "kind": b["kind"], "size": len(b["eigenvalues"]),
                        "top": float(b["eigenvalues"][-1]), "bottom": float(b["eigenvalues"][0])} for b in found],
            "distances": distances.tolist(), "mean_distance": float(pairs.mean()) if len(pairs) else float("nan")}


def hessian_vs_ggn(config: ExperimentConfig) -> dict:
    r"""Per layer-pair comparison of the dense Hessian and GGN (:func:`core.curvature.dense.block_report`).

    Also ``relative_difference`` :math:`\lVert H - G\rVert_F / \lVert H\rVert_F` over the whole
    matrix, the smallest eigenvalue of each, from the cached exact spectra (not recomputed), and
    ``layer_spectra``: each layer's diagonal block's top eigenvalues and trace, of H and of G
    (:func:`core.curvature.dense.layer_block_spectra`).

    Raises:
        BudgetExceeded: the dense matrices do not fit the budget.
    """
    exact = {name: run(config, name) for name in (REFERENCE, GGN_REFERENCE)}  # first: their matrices are reused
    report = dict(_blocks(config.to_dict(), data_key(config), code_version()))
    total = math.sqrt(sum(b["hessian_norm"] ** 2 for b in report["blocks"])) or 1.0
    report["relative_difference"] = math.sqrt(sum(b["difference_norm"] ** 2 for b in report["blocks"])) / total
    for name, key in ((REFERENCE, "hessian_min_eigenvalue"), (GGN_REFERENCE, "ggn_min_eigenvalue")):
        report[key] = float(exact[name].spectrum[0]) if exact[name].ok else None
    return report


def width_sweep(config: ExperimentConfig, widths, methods, samples: int) -> list[dict]:
    """Cost and error of each method as the (single) hidden width grows; every point cached.

    Returns:
        One :func:`core.tables.comparison_row` per width and method, with ``width`` and ``P``.
    """
    from .tables import cost_rows

    rows = []
    for width in widths:
        cfg = config.replace(hidden=(int(width),))
        results = results_for(cfg, methods, samples)
        p = num_params(cfg)
        for row in cost_rows(results):
            rows.append({"width": int(width), "P": p, **row})
    return rows


def warm(config: ExperimentConfig, methods, samples: int = DEFAULT_SAMPLES, counterparts: bool = False) -> list[str]:
    """Compute every result and study the app's pages read for ``config`` (with ``counterparts``,
    also the counterpart runs Home compares with on request: :func:`counterpart_study`).

    Returns:
        The errors of the methods that could not run (``"<method>: <why>"``).
    """
    from .budget import BudgetExceeded
    from .comparison import paper_table

    results = results_for(config, methods, samples)
    paper_table(config)
    try:
        hessian_vs_ggn(config)
    except BudgetExceeded:  # the app shows the refusal; nothing to warm
        pass
    try:
        trace_study(config, samples, DEFAULT_REPEATS)
    except BudgetExceeded:  # refused before any work; the Hutchinson page says so
        pass
    from . import landscape

    for study in (gradient_directions, landscape.landscape):  # Home's direction claims, the landscape page
        try:
            study(config)
        except BudgetExceeded:  # the page shows the refusal
            pass
    if counterparts:
        for field in counterpart_fields(config):
            counterpart_study(config, field)
    return [f"{name}: {r.error.splitlines()[0]}" for name, r in results.items() if not r.ok]


#: what a counterpart run changes: the field and its other value (None: the field does not apply
#: to this configuration, as the skips of a net that has none)
COUNTERPARTS = {"loss": lambda c: c.replace(loss="mse" if c.loss == "cross_entropy" else "cross_entropy"),
                "batch_norm": lambda c: c.replace(batch_norm=not c.batch_norm) if c.architecture != "transformer" else None,
                "no_skips": lambda c: c.replace(no_skips=not c.no_skips) if c.architecture == "resnet" else None,
                "architecture": lambda c: (c.replace(architecture="cnn", hidden=c.hidden[:1]) if c.architecture ==
                                           "transformer" else c.replace(architecture="transformer", hidden=c.hidden[:1], batch_norm=False)
                                           if c.architecture == "cnn" else None)}


#: what each counterpart run is, in words (the app's toggle lists those that apply)
COUNTERPART_WORDS = {"loss": "the other loss", "batch_norm": "BatchNorm on/off", "no_skips": "the skips removed",
                     "architecture": "a transformer against a CNN"}


def counterpart_fields(config: ExperimentConfig) -> list[str]:
    """The fields of :data:`COUNTERPARTS` that have a counterpart run for ``config``.

    >>> counterpart_fields(ExperimentConfig()), counterpart_fields(ExperimentConfig(dataset="digits", architecture="resnet"))
    (['loss', 'batch_norm'], ['loss', 'batch_norm', 'no_skips'])
    >>> counterpart_fields(ExperimentConfig(dataset="digits", architecture="transformer"))
    ['loss', 'architecture']
    """
    return [field for field, change in COUNTERPARTS.items() if change(config) is not None]


def counterpart_study(config: ExperimentConfig, field: str) -> dict:
    r"""The configuration and its counterpart with ``field`` changed (the other loss; BatchNorm
    toggled; a residual CNN's skips removed or restored; a transformer's CNN of the same first
    width, or a CNN's transformer), each trained with the same schedule and seed: exact top eigenvalue, trace,
    outliers (:func:`core.outliers.outliers`) and :math:`\lVert H - G\rVert_F / \lVert H\rVert_F`.

    Returns:
        ``{"field", "runs": [{"label", "config", "top", "trace", "outliers", "h_vs_g"} or
        {"label", "config", "error"}]}`` (current configuration first).
    Raises:
        ConfigError: ``field`` is not one of :data:`COUNTERPARTS`.
    """
    from .budget import BudgetExceeded
    from .outliers import outliers

    if field not in counterpart_fields(config):
        raise ConfigError("field", field, "one of " + ", ".join(counterpart_fields(config)))
    runs = []
    for cfg in (config, COUNTERPARTS[field](config)):
        entry = {"label": cfg.label(), "config": cfg.to_dict()}
        exact = run(cfg, REFERENCE)
        if not exact.ok:
            runs.append({**entry, "error": exact.error})
            continue
        try:
            h_vs_g = hessian_vs_ggn(cfg)["relative_difference"]
        except BudgetExceeded as refusal:
            h_vs_g = None
            entry["h_vs_g_error"] = str(refusal)
        if field == "architecture":  # the block-heterogeneity claim's measure
            entry["block_distance"] = block_heterogeneity(cfg)["mean_distance"]
        runs.append({**entry, "top": float(exact.spectrum[-1]), "trace": float(exact.trace),
                     "outliers": outliers(exact.spectrum, cfg.num_classes), "h_vs_g": h_vs_g})
    return {"field": field, "runs": runs}


@cached(returns=dict)
def _gradient_directions(config_dict: dict, data_key: str, version: str) -> dict:
    import numpy as np
    import torch

    from .problem import Problem
    from .subspaces import orthonormal_rows

    COMPUTE_COUNTS["gradient_directions"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    exact = run(config, REFERENCE)
    if not exact.ok or exact.top_vectors is None:
        raise BudgetExceeded(f"The gradient's directions need the exact Hessian's eigenvectors: {exact.error}")
    problem = build_problem(config)
    k = min(config.num_classes, len(exact.top_vectors))
    top = exact.top_vectors[:k].astype(np.float64)
    with computing(config):
        g = problem.gradient().double().cpu().numpy()
        means = []
        for label in torch.unique(problem.labels).tolist():
            chosen = problem.labels == label
            subset = Problem(problem.model, problem.x[chosen], problem.labels[chosen], loss=config.loss)
            means.append(subset.gradient().double().cpu().numpy())
    projected = top @ g
    share = float(projected @ projected / (g @ g)) if g @ g > 0 else float("nan")
    class_means = orthonormal_rows(np.stack(means))
    # the mean squared cosine of the top-k eigenvectors' angles to the class means' span
    in_span = float(np.sum((top @ class_means.T) ** 2) / k)
    return {"gradient_share": share, "class_means_overlap": in_span, "k": k, "classes": len(means),
            "num_params": problem.num_params}


def gradient_directions(config: ExperimentConfig) -> dict:
    r"""Where the gradient points against the exact Hessian's top-C eigenvectors :math:`V_C`:
    ``gradient_share`` :math:`\|V_C^\top g\|^2 / \|g\|^2` (Gur-Ari, Roberts & Dyer 2018) and
    ``class_means_overlap`` :math:`\|V_C^\top Q\|_F^2 / C` with Q an orthonormal basis of the
    class-mean gradients :math:`\frac{1}{n_c}\sum_{y_i = c} \nabla \ell_i` (Papyan 2019, 2020).

    Raises:
        BudgetExceeded: the exact Hessian is refused (its eigenvectors are the reference).
    """
    return _gradient_directions(config.to_dict(), data_key(config), code_version())
