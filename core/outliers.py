"""Outliers of a spectrum: the eigenvalues clearly separated from the bulk, by one stated rule.

Papyan (2019, 2020) derives C outliers for C classes (or C - 1 by the structure used), from the
class means of the gradients; Sagun et al. (2017) describe a bulk near zero plus a few outliers.
The rule: among the top ``2C + 2`` eigenvalues, the outliers are those above the largest ratio
of consecutive eigenvalues, **when that gap is clear**: at least :data:`MIN_GAP` (half as large
again as the next eigenvalue; Papyan's class-mean outliers measured here stand 1.8-5.6x above
the bulk) and at least :data:`STANDS_OUT` times every other consecutive ratio there (so a
spectrum that decays smoothly, whose largest ratio is one of many alike, has none). Below that
the verdict is "no clear outliers".
"""

from __future__ import annotations

import numpy as np

#: eigenvalues below this fraction of the largest are the bulk at zero, never an outlier gap
FLOOR = 1e-6
#: the smallest gap λ_k / λ_(k+1) that separates outliers from the bulk
MIN_GAP = 1.5
#: how much the gap must exceed every other consecutive ratio among the candidates
STANDS_OUT = 1.2

RULE = ("outliers = the top k eigenvalues, k where the ratio of consecutive eigenvalues "
        "λ_k / λ_(k+1) is largest among the top 2C + 2 (eigenvalues below 1e-6 λ_1 excluded), when that "
        f"gap is at least {MIN_GAP}x and {STANDS_OUT}x every other ratio there; else no clear outliers")


def search_depth(num_classes: int) -> int:
    """How many of the top eigenvalues the rule looks among."""
    return 2 * num_classes + 2


def outliers(eigenvalues, num_classes: int) -> dict:
    """Eigenvalues clearly separated from the bulk, by the largest-gap rule :data:`RULE`.

    ``count`` is 0 and ``clear`` False when the largest gap is not clear; ``gap`` and
    ``runner_up`` (the next largest ratio) say how it stood.

    >>> outliers([0.0, 0.01, 0.02, 0.03, 1.0, 2.0, 3.0], 3)["count"]
    3
    >>> found = outliers(1.2 ** -np.arange(40.0), 3)  # a smooth decay: every ratio 1.2
    >>> found["count"], found["clear"], round(found["gap"], 2)
    (0, False, 1.2)
    """
    values = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    top = values[0] if len(values) else 0.0
    candidates = values[: search_depth(num_classes) + 1]
    candidates = candidates[candidates > FLOOR * top] if top > 0 else candidates[:0]
    if len(candidates) < 2:
        return {"count": 0, "clear": False, "gap": None, "runner_up": None, "values": [], "rule": RULE}
    ratios = candidates[:-1] / candidates[1:]
    k = int(np.argmax(ratios)) + 1
    gap = float(ratios[k - 1])
    others = np.delete(ratios, k - 1)
    runner_up = float(others.max()) if len(others) else 1.0
    clear = gap >= MIN_GAP and gap >= STANDS_OUT * runner_up
    return {"count": k if clear else 0, "clear": bool(clear), "gap": gap, "runner_up": runner_up,
            "values": candidates[:k].tolist() if clear else [], "next": float(candidates[k]), "rule": RULE}
