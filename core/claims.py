"""Published claims about Hessian spectra, checked on the user's run: one table entry each.

A :class:`Claim` names what it is about (the methods whose presence in the selection makes it
checkable), what else it reads (methods computed for it), and one check function that turns the
evidence of this run into verdicts ``{"claim", "held", "evidence"}``: held True / False with its
numbers. Home and the CLI read :data:`CLAIMS`; adding a claim is one entry plus its test.

Only a budget refusal makes a verdict "not checked" (``held`` None, with the refusal); a check
that raises anything else is a bug and propagates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import metrics, paper, studies, subspaces
from .budget import BudgetExceeded
from .config import ExperimentConfig
from .methods import GGN_REFERENCE, REFERENCE, get_spec
from .outliers import RULE as OUTLIER_RULE
from .outliers import outliers
from .results import Result

GROUPS = {"paper": "Do the paper's claims hold here?", "shape": "What this network's shape makes checkable",
          "directions": "Do the approximations point the right way?"}


@dataclass
class Evidence:
    """What a check reads: the configuration, the results computed (the reference's among them),
    and the studies the page computed (``trace_study``: :func:`core.studies.hutchinson_study`'s
    result or the string of its refusal; ``counterparts``: field -> :func:`core.studies.counterpart_study`).
    The H-vs-GGN block report is computed on first use."""

    config: ExperimentConfig
    results: dict[str, Result]
    trace_study: dict | str | None = None
    counterparts: dict = field(default_factory=dict)

    @property
    def exact(self) -> Result:
        return self.results[REFERENCE]

    def ok(self, name: str) -> Result | None:
        """The result of ``name`` when it was computed and ran, else None."""
        found = self.results.get(name)
        return found if found is not None and found.ok else None

    def blocks(self) -> dict:
        return studies.hessian_vs_ggn(self.config)


def verdict(claim: str, held, evidence: str) -> dict:
    return {"claim": claim, "held": None if held is None else bool(held), "evidence": evidence}


@dataclass(frozen=True)
class Claim:
    """One claim: its group (:data:`GROUPS`), what it says, its source, the methods it is about
    (checked when one of them is selected; none: always), the methods it also reads, and its check
    ``(Evidence) -> [verdict]`` (an empty list: nothing to say on this run)."""

    key: str
    group: str
    statement: str
    source: str
    check: Callable[[Evidence], list[dict]]
    about: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- the paper's claims
def _pyhessian_top_k(ev: Evidence) -> list[dict]:
    power = ev.ok("pyhessian_top_k")
    if power is None:
        return []
    errors = metrics.top_k_errors(power, ev.exact, paper.TOP_K, by_magnitude=True)
    worst = float(np.nanmax(errors))
    return [verdict("PyHessian's top-10 eigenvalues equal the exact ones", worst < 1e-2,
                    f"largest relative error over ranks 1-{len(errors)}: {worst:.1e}, against the exact eigenvalues of "
                    "largest |λ| (power iteration finds those, negative ones included; tol 1e-3; 'equal' taken as "
                    "below 1 %)")]


def _diag_hessian_trace(ev: Evidence) -> list[dict]:
    found = ev.ok("diag_hessian")
    if found is None:
        return []
    error = metrics.trace_error(found, ev.exact)
    return [verdict("BackPACK's DiagHessian trace equals the exact trace tr(H)", error < 1e-4,
                    f"relative error {error:.1e} (the diagonal of H is computed exactly)")]


def _ggn_diagonal_traces(ev: Evidence) -> list[dict]:
    out = []
    ggn = ev.results.get(GGN_REFERENCE)
    for name in ("diag_ggn_exact", "diag_ggn_mc"):
        found = ev.ok(name)
        if found is None:
            continue
        label = get_spec(name).label
        if ggn is None or not ggn.ok:
            out.append(verdict(f"{label}'s trace equals the GGN's trace tr(G)", None,
                               "not checked: the exact GGN is " + ("not computed" if ggn is None else
                                                                   "refused: " + ggn.error)))
            continue
        error, against_h = metrics.trace_error(found, ggn), metrics.trace_error(found, ev.exact)
        sampled = get_spec(name).stochastic
        out.append(verdict(f"{label}'s trace {'estimates' if sampled else 'equals'} the GGN's trace tr(G)",
                           error < (0.5 if sampled else 1e-4),
                           f"relative error {error:.1e} against tr(G) ("
                           + ("one Monte-Carlo sample; within 50 % taken as held" if sampled else "exact diagonal of G")
                           + f"); {against_h:.1%} against tr(H), which the paper compared it with"))
    return out


KRONECKER = ("kfac", "kflr", "kfra")


def _kronecker_traces(ev: Evidence) -> list[dict]:
    found = {get_spec(n).label: ev.ok(n) for n in KRONECKER if ev.ok(n) is not None}
    if not found:
        return []
    errors = {label: metrics.trace_error(r, ev.exact) for label, r in found.items()}
    return [verdict("Kronecker-factored traces differ from the exact trace", all(e > 1e-4 for e in errors.values()),
                    "; ".join(f"{n}: {e:.1%}" for n, e in errors.items()))]


HUTCHINSON_CLAIM = "Hutchinson's estimate approaches the exact trace as samples grow"


def _hutchinson_converges(ev: Evidence) -> list[dict]:
    study = ev.trace_study
    if study is None:
        return []
    if isinstance(study, str):
        return [verdict(HUTCHINSON_CLAIM, None, study)]
    rows = {r["samples"]: r for r in study["hutchinson_curve"]}
    first = max(m for m in rows if m <= paper.HUTCHINSON_SAMPLES)
    last = max(rows)
    rmse = {m: metrics.relative_rmse(rows[m]["mean"], rows[m]["std"], ev.exact.trace) for m in (first, last)}
    return [verdict(HUTCHINSON_CLAIM, rmse[last] < rmse[first],
                    f"relative RMSE over {study['repeats']} independent repeats: {rmse[first]:.1%} at {first} "
                    f"samples, {rmse[last]:.1%} at {last}")]


def _hessian_equals_ggn(ev: Evidence) -> list[dict]:
    blocks = ev.blocks()
    within = [b for b in blocks["blocks"] if b["within_layer"]]
    across = [b for b in blocks["blocks"] if not b["within_layer"]]
    activation = ev.config.activation
    out = [verdict(f"'{activation}: Hessian = GGN' within each layer", all(b["agree"] for b in within),
                   f"largest relative block difference within layers: {max(b['relative_difference'] for b in within):.1e}")]
    if across:
        out.append(verdict(f"'{activation}: Hessian = GGN' across layers", all(b["agree"] for b in across),
                           "largest relative block difference across layers: "
                           f"{max(b['relative_difference'] for b in across):.2f}; smallest eigenvalue of H "
                           f"{blocks['hessian_min_eigenvalue']:.3g} vs GGN {blocks['ggn_min_eigenvalue']:.1e}"))
    return out


# ----------------------------------------------------------------------------- the shape's claims
def _outliers(ev: Evidence) -> list[dict]:
    c = ev.config.num_classes
    found = outliers(ev.exact.spectrum, c)
    claim = f"About C outliers for C = {c} classes (Papyan 2019, 2020; Sagun et al. 2017)"
    if not found["clear"]:
        return [verdict(claim, False, f"no clear outliers: the largest gap among the top {2 * c + 2} is "
                        f"{found['gap'] or 0:.2f}x (the next {found['runner_up'] or 0:.2f}x). Rule: {OUTLIER_RULE}")]
    values = ", ".join(f"{v:.3g}" for v in found["values"][:12]) + (", ..." if found["count"] > 12 else "")
    return [verdict(claim, found["count"] in (c - 1, c),
                    f"{found['count']} outliers ({values}) above a gap of {found['gap']:.2g}x (the next largest "
                    f"ratio {found['runner_up']:.2g}x); held if C - 1 or C. Rule: {OUTLIER_RULE}")]


def _counterpart_errors(field_name: str, ev: Evidence) -> tuple[list[dict], list[dict] | None]:
    study = ev.counterparts.get(field_name)
    if study is None:
        return [], None
    runs = study["runs"]
    failed = [r for r in runs if "error" in r]
    if failed:
        return [verdict(f"Counterpart comparison ({field_name})", None,
                        "; ".join(f"{r['label']}: {r['error']}" for r in failed))], None
    return [], runs


def _mse_closer_to_ggn(ev: Evidence) -> list[dict]:
    said, runs = _counterpart_errors("loss", ev)
    if runs is None:
        return said
    by_loss = {r["config"]["loss"]: r for r in runs}
    mse, ce = by_loss["mse"], by_loss["cross_entropy"]
    claim = ("H is closer to the GGN under MSE than under cross-entropy (Schraudolph 2002; Martens 2020, 'New "
             "insights and perspectives on the natural gradient method')")
    if mse["h_vs_g"] is None or ce["h_vs_g"] is None:
        return [verdict(claim, None, "the dense GGN is over the budget for one of the runs: "
                        + "; ".join(r["h_vs_g_error"] for r in runs if "h_vs_g_error" in r))]
    return [verdict(claim, mse["h_vs_g"] < ce["h_vs_g"],
                    f"‖H − G‖_F / ‖H‖_F = {mse['h_vs_g']:.2e} with MSE, {ce['h_vs_g']:.2e} with cross-entropy "
                    "(same network, schedule and seed; G uses each loss's own output Hessian)")]


def _batch_norm_effects(ev: Evidence) -> list[dict]:
    said, runs = _counterpart_errors("batch_norm", ev)
    if runs is None:
        return said
    here, there = runs
    with_bn, without = (here, there) if ev.config.batch_norm else (there, here)
    gap = lambda r: r["outliers"]["gap"] or 1.0
    return [verdict("BatchNorm makes the top eigenvalues less isolated (Ghorbani, Krishnan & Xiao 2019)",
                    gap(with_bn) < gap(without),
                    f"outlier gap λ_k / λ_(k+1): {gap(with_bn):.2f}x with BatchNorm ({with_bn['outliers']['count']} "
                    f"outliers), {gap(without):.2f}x without ({without['outliers']['count']})"),
            verdict("BatchNorm lowers the top eigenvalue and the trace (not always: Yao et al. 2020)",
                    with_bn["top"] < without["top"] and with_bn["trace"] < without["trace"],
                    f"λ_max {with_bn['top']:.3g} with BatchNorm vs {without['top']:.3g} without; trace "
                    f"{with_bn['trace']:.3g} vs {without['trace']:.3g} (eval-mode Hessians, same schedule and seed)")]


SKIPS_CLAIM = "Removing the residual connections raises the top eigenvalue and the trace (Yao et al. 2020)"


def _skip_effects(ev: Evidence) -> list[dict]:
    said, runs = _counterpart_errors("no_skips", ev)
    if runs is None:
        return said
    here, there = runs
    with_skips, without = (there, here) if ev.config.no_skips else (here, there)
    return [verdict(SKIPS_CLAIM, without["top"] > with_skips["top"] and without["trace"] > with_skips["trace"],
                    f"λ_max {without['top']:.3g} without the skips vs {with_skips['top']:.3g} with; trace "
                    f"{without['trace']:.3g} vs {with_skips['trace']:.3g} (the same layers, P, initialisation, "
                    "schedule and seed; Yao et al. measured ResNets trained to convergence)")]


HETEROGENEITY_CLAIM = ("The Hessian's blocks have more different spectra in a transformer than in a CNN "
                       "(Zhang et al. 2024)")


def _block_heterogeneity(ev: Evidence) -> list[dict]:
    said, runs = _counterpart_errors("architecture", ev)
    if runs is None:
        return said
    by_kind = {r["config"]["architecture"]: r for r in runs}
    transformer, cnn = by_kind["transformer"], by_kind["cnn"]
    return [verdict(HETEROGENEITY_CLAIM, transformer["block_distance"] > cnn["block_distance"],
                    f"mean Jensen-Shannon distance between the blocks' spectral densities: "
                    f"{transformer['block_distance']:.3f} in the transformer ({transformer['label']}), "
                    f"{cnn['block_distance']:.3f} in the CNN ({cnn['label']}); one block per parameterised layer, "
                    "densities on a log axis (0: alike, 1: disjoint)")]


# ----------------------------------------------------------------------------- directions
#: a top-C eigenspace "aligns" with another when their overlap ||UᵀV||²_F / C is at least this
ALIGNED = 0.9
#: "mostly in" a subspace: more than this share of the squared norm (or of the mean squared cosine)
MOSTLY = 0.5


def _agreement_words(found: dict) -> str:
    gap = found["reference_gap"]
    return (f"overlap ‖UᵀV‖²_F / k = {found['overlap']:.3f} for k = {found['k']} (largest principal angle "
            f"{found['largest_angle']:.0f}°" + (f"; the reference's relative gap at k: {gap:.2f}" if gap is not None
                                               else "") + ")")


def _hessian_ggn_align(ev: Evidence) -> list[dict]:
    claim = "The top-C eigenspaces of the Hessian and the GGN align (Sagun et al. 2017)"
    ggn = ev.ok(GGN_REFERENCE)
    if ggn is None:
        found = ev.results.get(GGN_REFERENCE)
        return [verdict(claim, None, "not checked: the exact GGN is " + ("not computed" if found is None else
                                                                          "refused: " + str(found.error)))]
    found = subspaces.agreement(ggn, ev.exact, ev.config.num_classes)
    return [verdict(claim, found["overlap"] >= ALIGNED,
                    _agreement_words(found) + f"; held if at least {ALIGNED}")]


def _kronecker_directions(ev: Evidence) -> list[dict]:
    ggn = ev.ok(GGN_REFERENCE)
    k = ev.config.num_classes
    against = ggn if ggn is not None else ev.exact
    overlaps = {}
    for name in ("kfac", "kflr", "kfra", "ekfac"):
        found = ev.ok(name)
        if found is not None and found.top_vectors is not None:
            overlaps[name] = subspaces.agreement(found, against, k)
    if "ekfac" not in overlaps or "kfac" not in overlaps:
        return []
    words = "; ".join(f"{get_spec(n).label}: {f['overlap']:.3f}" for n, f in overlaps.items())
    return [verdict("EKFAC's refitted eigenvalues bring its top-C eigenspace closer to the "
                    + ("GGN's" if ggn is not None else "Hessian's") + " than KFAC's (George et al. 2018)",
                    overlaps["ekfac"]["overlap"] >= overlaps["kfac"]["overlap"],
                    f"top-{k} overlap with the exact {'GGN' if ggn is not None else 'Hessian'}: {words} (EKFAC keeps "
                    "KFAC's Kronecker eigenbasis and refits each eigenvalue; the refit reorders which basis vectors "
                    "are on top)")]


def _gradient_directions(ev: Evidence) -> list[dict]:
    study = studies.gradient_directions(ev.config)
    c = ev.config.num_classes
    return [verdict(f"The gradient lies mostly in the top-{c} Hessian eigenspace (Gur-Ari, Roberts & Dyer 2018)",
                    study["gradient_share"] > MOSTLY,
                    f"‖V_Cᵀg‖² / ‖g‖² = {study['gradient_share']:.1%} (held above {MOSTLY:.0%}; a random direction: "
                    f"about C/P = {c / study['num_params']:.0e})"),
            verdict(f"The top-{c} Hessian eigenspace lies in the span of the class-mean gradients (Papyan 2019, "
                    "2020)", study["class_means_overlap"] > MOSTLY,
                    f"overlap of the top-{c} eigenvectors with the span of the {study['classes']} class-mean "
                    f"gradients: {study['class_means_overlap']:.3f} (mean squared cosine; held above {MOSTLY})")]


#: every claim the tool checks, in the order shown
CLAIMS: tuple[Claim, ...] = (
    Claim("pyhessian_top_k", "paper", "PyHessian's top-10 eigenvalues equal the exact ones", "the paper, Fig. 1",
          _pyhessian_top_k, about=("pyhessian_top_k",)),
    Claim("diag_hessian_trace", "paper", "BackPACK's DiagHessian trace equals the exact trace", "the paper, Fig. 2",
          _diag_hessian_trace, about=("diag_hessian",)),
    Claim("ggn_diagonal_traces", "paper", "BackPACK's GGN diagonals' traces equal the GGN's trace", "the paper, Fig. 2",
          _ggn_diagonal_traces, about=("diag_ggn_exact", "diag_ggn_mc"), needs=(GGN_REFERENCE,)),
    Claim("kronecker_traces", "paper", "Kronecker-factored traces differ from the exact trace", "the paper, Fig. 2",
          _kronecker_traces, about=KRONECKER),
    Claim("hutchinson_converges", "paper", HUTCHINSON_CLAIM, "the paper, Fig. 3", _hutchinson_converges),
    Claim("hessian_equals_ggn", "paper", "'{activation}: Hessian = GGN'", "the paper, citing Botev et al. (2017)",
          _hessian_equals_ggn),
    Claim("outliers", "shape", "About C outliers for C classes", "Papyan (2019, 2020); Sagun et al. (2017)", _outliers),
    Claim("mse_closer_to_ggn", "shape", "H is closer to the GGN under MSE than under cross-entropy",
          "Schraudolph (2002); Martens (2020)", _mse_closer_to_ggn),
    Claim("batch_norm", "shape", "BatchNorm makes the top eigenvalues less isolated and lowers them",
          "Ghorbani, Krishnan & Xiao (2019); Yao et al. (2020)", _batch_norm_effects),
    Claim("skips", "shape", "Removing residual connections raises the top eigenvalue and the trace",
          "Yao et al. (2020), PyHessian (arXiv:1912.07145)", _skip_effects),
    Claim("block_heterogeneity", "shape", "A transformer's Hessian blocks differ more than a CNN's",
          "Zhang et al. (2024), 'Why Transformers Need Adam: A Hessian Perspective' (arXiv:2402.16788)",
          _block_heterogeneity),
    Claim("hessian_ggn_directions", "directions", "The top-C eigenspaces of the Hessian and the GGN align",
          "Sagun et al. (2017)", _hessian_ggn_align, needs=(GGN_REFERENCE,)),
    Claim("kronecker_directions", "directions", "EKFAC's top-C eigenspace is closer than KFAC's",
          "George et al. (2018)", _kronecker_directions, about=("ekfac",), needs=("kfac", GGN_REFERENCE)),
    Claim("gradient_directions", "directions", "The gradient and the class-mean gradients lie in the top-C eigenspace",
          "Gur-Ari, Roberts & Dyer (2018); Papyan (2019, 2020)", _gradient_directions),
)


def applicable(group: str, selected) -> list[Claim]:
    """The claims of ``group`` a selection of methods makes checkable."""
    return [c for c in CLAIMS if c.group == group and (not c.about or set(c.about) & set(selected))]


def claim_methods(selected, groups=tuple(GROUPS)) -> list[str]:
    """The methods the claims of ``groups`` read for a selection: the selected ones they are
    about, plus what they also need (the exact GGN for the GGN diagonals)."""
    needed = []
    for group in groups:
        for claim in applicable(group, selected):
            needed += [m for m in claim.about if m in selected] + list(claim.needs)
    return list(dict.fromkeys(needed))


def check(group: str, config: ExperimentConfig, results: dict[str, Result], trace_study: dict | str | None = None,
          counterparts: dict | None = None) -> list[dict]:
    """The verdicts of every claim of ``group`` checkable on these results.

    Returns:
        ``[{"claim", "held" (True / False / None for not checked), "evidence"}]``; without the
        exact Hessian, one verdict saying so.
    """
    exact = results.get(REFERENCE)
    if exact is None or not exact.ok:
        return [verdict(f"{GROUPS[group]}: the claims need the exact Hessian", None,
                        exact.error if exact is not None else "not computed")]
    evidence = Evidence(config, results, trace_study, counterparts or {})
    out = []
    for claim in applicable(group, results):
        try:
            out += claim.check(evidence)
        except BudgetExceeded as refusal:  # the only "not checked": what the budget refused, said
            out.append(verdict(claim.statement.format(**config.to_dict()), None, str(refusal)))
    return out
