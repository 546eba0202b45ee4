"""The paper's numbers, its table on the user's configuration, and its claims checked here.

* :data:`PAPER`: what the paper reports (its Table; Fig. 3's exact trace is the same 22.40);
* :func:`paper_table`: exact Hessian vs PyHessian (power iteration + Hutchinson with the
  paper's 25 samples) on the current configuration, beside the paper's figures;
* :func:`paper_claims`: each claim of the paper computed on the current run and said as
  held / did not hold with its numbers;
* :func:`compare`: any set of methods against the exact Hessian (the CLI's ``compare``).

Plain dicts and lists (JSON as they stand); the CLI prints them, the app draws them.
"""

from __future__ import annotations

import numpy as np

from . import metrics, pipeline, studies
from .config import ExperimentConfig
from .methods import MethodError, check_for_size, resolve_options
from .results import Result
from .tables import comparison_row, format_cell, label

#: the methods whose results the claims panel reads (with the exact Hessian); the exact GGN is
#: the reference of the GGN diagonals, so the panel computes it whenever they are selected
CLAIM_METHODS = ("pyhessian_top_k", "diag_hessian", "diag_ggn_exact", "diag_ggn_mc", "kfac", "kflr", "kfra",
                 "exact_ggn")

def claim_methods(selected) -> list[str]:
    """The methods the claims panel needs for a selection: the selected ones it reads, plus the
    exact GGN when a GGN diagonal is among them (its reference)."""
    needed = [m for m in selected if m in CLAIM_METHODS]
    if {"diag_ggn_exact", "diag_ggn_mc"} & set(needed) and "exact_ggn" not in needed:
        needed.append("exact_ggn")
    return needed


PAPER = {
    "exact": {"trace": 22.40, "seconds_trace": 10.18, "max_eigenvalue": 3.31, "seconds_all": 32.26},
    "pyhessian": {"trace": 19.98, "seconds_trace": 7.64, "max_eigenvalue": 3.29, "seconds_all": 20 * 3600.0},
    "hutchinson_samples": 25,
}


def formatted_rows(table: dict) -> list[list[str]]:
    """The paper table's rows as display strings (rows whose label has ``[s]`` are times)."""
    return [[row[0], *(format_cell(v, seconds="[s]" in row[0]) for v in row[1:])] for row in table["rows"]]


def _run_all(config, steps, progress: bool) -> dict[str, Result]:
    from tqdm import tqdm

    return {name: pipeline.run(config, name, options)
            for name, options in tqdm(steps, desc="methods", unit="method", disable=not progress, leave=False)}


def paper_table(config: ExperimentConfig, hutchinson_samples: int = PAPER["hutchinson_samples"], top_k: int = 10,
                progress: bool = False) -> dict:
    """The paper's table on ``config``: exact Hessian vs PyHessian (power iteration + Hutchinson).

    Returns:
        ``{"info", "header", "rows", "errors", "notes", "results"}``; rows are
        ``[label, ours exact, ours PyHessian, paper exact, paper PyHessian]`` with numbers
        (None where there is none).
    """
    steps = [("exact_hessian", {}), ("pyhessian_top_k", {"k": top_k}),
             ("pyhessian_hutchinson", {"samples": hutchinson_samples})]
    p = pipeline.size(config)[0]
    for name, options in steps:  # checked, also against P, before any work starts
        check_for_size(name, resolve_options(name, options), p)
    results = _run_all(config, steps, progress)
    exact, power, hutch = (results[name] for name, _ in steps)
    info = pipeline.describe(config)
    p = info["num_params"]

    def val(result, getter):
        return getter(result) if result.ok else None

    all_time_pyhessian = None
    if power.ok and power.top is not None:
        all_time_pyhessian = power.seconds / len(power.top) * p  # deflation, one eigenvalue at a time
    rows = [
        ["Tr(H)", val(exact, lambda r: r.trace), val(hutch, lambda r: r.trace), PAPER["exact"]["trace"],
         PAPER["pyhessian"]["trace"]],
        ["time for Tr(H) [s]", val(exact, lambda r: r.seconds_trace), val(hutch, lambda r: r.seconds),
         PAPER["exact"]["seconds_trace"], PAPER["pyhessian"]["seconds_trace"]],
        ["maximum eigenvalue", val(exact, lambda r: r.top[0]), val(power, lambda r: r.top[0]),
         PAPER["exact"]["max_eigenvalue"], PAPER["pyhessian"]["max_eigenvalue"]],
        ["minimum eigenvalue", val(exact, lambda r: r.spectrum[0]), None, None, None],
        [f"time for top-{top_k} [s]", val(exact, lambda r: r.seconds), val(power, lambda r: r.seconds), None, None],
        ["time for all eigenvalues [s]", val(exact, lambda r: r.seconds), all_time_pyhessian,
         PAPER["exact"]["seconds_all"], PAPER["pyhessian"]["seconds_all"]],
        [f"max rel. error top-{top_k} vs exact", 0.0 if exact.ok else None,
         float(np.nanmax(metrics.top_k_errors(power, exact, top_k, by_magnitude=True))) if exact.ok and power.ok
         else None, None, None],
    ]
    header = ["", "Full Hessian (ours)", f"PyHessian (ours, m={hutchinson_samples})",
              "Full Hessian (paper)", "PyHessian (paper, m=25)"]
    return {"info": info, "header": header, "rows": rows,
            "errors": {n: r.error for n, r in results.items() if not r.ok},
            "notes": ["PyHessian's 'all eigenvalues' time is extrapolated: top-k time / k x P "
                      "(power iteration with deflation, one eigenvalue at a time).",
                      "Power iteration finds the eigenvalues of largest |λ|, so its error is against the exact "
                      "eigenvalues of largest magnitude."],
            "results": {n: r.to_dict() for n, r in results.items()}}


def compare(config: ExperimentConfig, methods: list[str], options: dict | None = None, top_k: int = 10,
            progress: bool = False) -> dict:
    """Run ``methods`` (plus the exact Hessian as reference) and compare each with it.

    Every name and option is checked before any work starts (:class:`MethodError`).
    """
    options = options or {}
    unknown = set(options) - set(methods)
    if unknown:
        raise MethodError(f"options given for {sorted(unknown)}, which are not among the methods {methods}")
    names = pipeline.selection(methods)
    p = pipeline.size(config)[0]
    for name in names:  # every option checked, also against P, before any work starts
        check_for_size(name, resolve_options(name, options.get(name)), p)
    results = _run_all(config, [(m, options.get(m, {})) for m in names], progress)
    exact = results["exact_hessian"]
    rows = [comparison_row(results[m], exact, top_k) for m in names if m in methods or m != "exact_hessian"]
    return {"info": pipeline.describe(config), "top_k": top_k, "rows": rows,
            "results": {n: r.to_dict() for n, r in results.items()}}


def paper_claims(config: ExperimentConfig, results: dict[str, Result], trace_study: dict | str | None = None
                 ) -> list[dict]:
    """Each claim of the paper checked on this configuration: held / did not hold, with numbers.

    Args:
        config: the experiment (the H-vs-GGN block report is read for it).
        results: cached results, the exact Hessian's among them (and the exact GGN's for the
            GGN diagonals).
        trace_study: :func:`core.studies.hutchinson_study`'s result for the Hutchinson verdict,
            decided from the spread over its repeats (not from one seed); a string is why the
            study was refused (the verdict is then "not checked", with that reason).
    Returns:
        ``[{"claim", "held" (True/False/None for not checked), "evidence"}]``.
    """
    exact = results.get("exact_hessian")
    claims = []

    def add(claim, held, evidence):
        claims.append({"claim": claim, "held": held, "evidence": evidence})

    if exact is None or not exact.ok:
        add("All claims need the exact Hessian", None, exact.error if exact is not None else "not computed")
        return claims
    power = results.get("pyhessian_top_k")
    if power is not None and power.ok:
        errors = metrics.top_k_errors(power, exact, 10, by_magnitude=True)
        worst = float(np.nanmax(errors))
        add("PyHessian's top-10 eigenvalues equal the exact ones", worst < 1e-2,
            f"largest relative error over ranks 1-{len(errors)}: {worst:.1e}, against the exact eigenvalues of "
            "largest |λ| (power iteration finds those, negative ones included; tol 1e-3; 'equal' taken as below 1 %)")
    diag_h = results.get("diag_hessian")
    if diag_h is not None and diag_h.ok:
        error = metrics.trace_error(diag_h, exact)
        add("BackPACK's DiagHessian trace equals the exact trace tr(H)", error < 1e-4,
            f"relative error {error:.1e} (the diagonal of H is computed exactly)")
    ggn = results.get("exact_ggn")
    for name in ("diag_ggn_exact", "diag_ggn_mc"):
        found = results.get(name)
        if found is None or not found.ok:
            continue
        if ggn is None or not ggn.ok:
            add(f"{label(name)}'s trace equals the GGN's trace tr(G)", None,
                "not checked: the exact GGN is " + ("not computed" if ggn is None else "refused: " + ggn.error))
            continue
        error, against_h = metrics.trace_error(found, ggn), metrics.trace_error(found, exact)
        sampled = name == "diag_ggn_mc"
        add(f"{label(name)}'s trace {'estimates' if sampled else 'equals'} the GGN's trace tr(G)",
            error < (0.5 if sampled else 1e-4),
            f"relative error {error:.1e} against tr(G) ({'one Monte-Carlo sample; within 50 % taken as held' if sampled else 'exact diagonal of G'}); "
            f"{against_h:.1%} against tr(H), which the paper compared it with")
    kron = [n for n in ("kfac", "kflr", "kfra") if n in results and results[n].ok]
    if kron:
        errors = {label(n): metrics.trace_error(results[n], exact) for n in kron}
        add("Kronecker-factored traces differ from the exact trace", all(e > 1e-4 for e in errors.values()),
            "; ".join(f"{n}: {e:.1%}" for n, e in errors.items()))
    hutchinson_claim = "Hutchinson's estimate approaches the exact trace as samples grow"
    if isinstance(trace_study, str):
        add(hutchinson_claim, None, trace_study)
    elif trace_study is not None:
        rows = {r["samples"]: r for r in trace_study["hutchinson_curve"]}
        m_first = max(m for m in rows if m <= PAPER["hutchinson_samples"])
        m_last = max(rows)
        rmse = {m: np.sqrt(rows[m]["std"] ** 2 + (rows[m]["mean"] - exact.trace) ** 2) / abs(exact.trace)
                for m in (m_first, m_last)}
        add(hutchinson_claim, bool(rmse[m_last] < rmse[m_first]),
            f"relative RMSE over {trace_study['repeats']} independent repeats: {rmse[m_first]:.1%} at {m_first} "
            f"samples, {rmse[m_last]:.1%} at {m_last}")
    try:
        blocks = studies.hessian_vs_ggn(config)
    except Exception as refusal:  # over budget: say so instead of guessing
        add("ReLU: Hessian = GGN", None, str(refusal))
        return claims
    within = [b for b in blocks["blocks"] if b["within_layer"]]
    across = [b for b in blocks["blocks"] if not b["within_layer"]]
    held_within = all(b["agree"] for b in within)
    held_across = all(b["agree"] for b in across)
    add(f"'{config.activation}: Hessian = GGN' within each layer", held_within,
        "largest relative block difference within layers: "
        f"{max(b['relative_difference'] for b in within):.1e}")
    if across:
        add(f"'{config.activation}: Hessian = GGN' across layers", held_across,
            f"largest relative block difference across layers: {max(b['relative_difference'] for b in across):.2f}; "
            f"smallest eigenvalue of H {blocks['hessian_min_eigenvalue']:.3g} vs GGN {blocks['ggn_min_eigenvalue']:.1e}")
    return claims


#: outliers are looked for among the top ``OUTLIER_SEARCH(C)`` eigenvalues
OUTLIER_SEARCH = lambda num_classes: 2 * num_classes + 2
#: eigenvalues below this fraction of the largest are the bulk at zero, never an outlier gap
OUTLIER_FLOOR = 1e-6

OUTLIER_RULE = ("outliers = the top k eigenvalues, k where the ratio of consecutive eigenvalues "
                "λ_k / λ_(k+1) is largest among the top 2C + 2 (eigenvalues below 1e-6 λ_1 excluded)")


def outliers(eigenvalues, num_classes: int) -> dict:
    """Eigenvalues clearly separated from the bulk, by the largest-gap rule :data:`OUTLIER_RULE`.

    Papyan (2019, 2020) finds C outliers (or C - 1 by the structure used), from the class means
    of the gradients; the rule needs no threshold chosen per run.

    >>> outliers([0.0, 0.01, 0.02, 0.03, 1.0, 2.0, 3.0], 3)["count"]
    3
    """
    values = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    top = values[0] if len(values) else 0.0
    candidates = values[: OUTLIER_SEARCH(num_classes) + 1]
    candidates = candidates[candidates > OUTLIER_FLOOR * top] if top > 0 else candidates[:0]
    if len(candidates) < 2:
        return {"count": 0, "gap": None, "values": candidates.tolist(), "rule": OUTLIER_RULE}
    ratios = candidates[:-1] / candidates[1:]
    k = int(np.argmax(ratios)) + 1
    return {"count": k, "gap": float(ratios[k - 1]), "values": candidates[:k].tolist(),
            "next": float(candidates[k]), "rule": OUTLIER_RULE}


def shape_claims(config: ExperimentConfig, results: dict[str, Result], counterparts: dict | None = None) -> list[dict]:
    """The claims the network's shape makes checkable, on this run (sources in each claim).

    Args:
        config: the experiment.
        results: cached results with the exact Hessian's (and the exact GGN's, if computed).
        counterparts: field -> :func:`core.studies.counterpart_study` for the claims that compare
            two runs (``"loss"``: H vs GGN under MSE and cross-entropy; ``"batch_norm"``: with and
            without BatchNorm); those claims are only made when given.
    Returns:
        ``[{"claim", "held" (True/False/None), "evidence"}]`` like :func:`paper_claims`.
    """
    claims = []
    add = lambda claim, held, evidence: claims.append({"claim": claim, "held": held, "evidence": evidence})
    exact = results.get("exact_hessian")
    if exact is None or not exact.ok:
        return [{"claim": "The shape claims need the exact Hessian", "held": None,
                 "evidence": exact.error if exact is not None else "not computed"}]
    c = config.num_classes
    found = outliers(exact.spectrum, c)
    add(f"About C outliers for C = {c} classes (Papyan 2019, 2020; Sagun et al. 2017)", found["count"] in (c - 1, c),
        f"{found['count']} outliers ({', '.join(f'{v:.3g}' for v in found['values'][:12])}"
        f"{', ...' if found['count'] > 12 else ''}) above a gap of {found['gap'] or 0:.2g}x; held if C - 1 or C. "
        f"Rule: {OUTLIER_RULE}")
    for field, study in (counterparts or {}).items():
        runs = study["runs"]
        if any("error" in r for r in runs):
            add(f"Counterpart comparison ({field})", None, "; ".join(f"{r['label']}: {r['error']}" for r in runs
                                                                 if "error" in r))
            continue
        here, there = runs
        if field == "loss":
            by_loss = {r["config"]["loss"]: r for r in runs}
            mse, ce = by_loss["mse"], by_loss["cross_entropy"]
            if mse["h_vs_g"] is None or ce["h_vs_g"] is None:
                add("H is closer to the GGN under MSE than under cross-entropy", None,
                    "the dense GGN is over the budget for one of the runs")
                continue
            add("H is closer to the GGN under MSE than under cross-entropy (Schraudolph 2002; Martens 2020, 'New insights and perspectives on the natural gradient method')",
                mse["h_vs_g"] < ce["h_vs_g"],
                f"‖H − G‖_F / ‖H‖_F = {mse['h_vs_g']:.2e} with MSE, {ce['h_vs_g']:.2e} with cross-entropy "
                "(same network, schedule and seed; G uses each loss's own output Hessian)")
        else:
            with_bn, without = (here, there) if config.batch_norm else (there, here)
            gap = lambda r: r["outliers"]["gap"] or 1.0
            add("BatchNorm makes the top eigenvalues less isolated (Ghorbani, Krishnan & Xiao 2019)",
                gap(with_bn) < gap(without),
                f"outlier gap λ_k / λ_(k+1): {gap(with_bn):.2f}x with BatchNorm ({with_bn['outliers']['count']} "
                f"outliers), {gap(without):.2f}x without ({without['outliers']['count']})")
            add("BatchNorm lowers the top eigenvalue and the trace (not always: Yao et al. 2020)",
                with_bn["top"] < without["top"] and with_bn["trace"] < without["trace"],
                f"λ_max {with_bn['top']:.3g} with BatchNorm vs {without['top']:.3g} without; trace "
                f"{with_bn['trace']:.3g} vs {without['trace']:.3g} (eval-mode Hessians, same schedule and seed)")
    return claims
