"""Outliers of a spectrum: the eigenvalues clearly separated from the bulk, by one stated rule.

Papyan (2019, 2020) derives C outliers for C classes (or C - 1 by the structure used), from the
class means of the gradients; Sagun et al. (2017) describe a bulk near zero plus a few outliers.
The rule here needs no threshold chosen per run: among the top ``2C + 2`` eigenvalues, the
outliers are those above the largest ratio of consecutive eigenvalues.
"""

from __future__ import annotations

import numpy as np

#: eigenvalues below this fraction of the largest are the bulk at zero, never an outlier gap
FLOOR = 1e-6

RULE = ("outliers = the top k eigenvalues, k where the ratio of consecutive eigenvalues "
        "λ_k / λ_(k+1) is largest among the top 2C + 2 (eigenvalues below 1e-6 λ_1 excluded)")


def search_depth(num_classes: int) -> int:
    """How many of the top eigenvalues the rule looks among."""
    return 2 * num_classes + 2


def outliers(eigenvalues, num_classes: int) -> dict:
    """Eigenvalues clearly separated from the bulk, by the largest-gap rule :data:`RULE`.

    >>> outliers([0.0, 0.01, 0.02, 0.03, 1.0, 2.0, 3.0], 3)["count"]
    3
    """
    values = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    top = values[0] if len(values) else 0.0
    candidates = values[: search_depth(num_classes) + 1]
    candidates = candidates[candidates > FLOOR * top] if top > 0 else candidates[:0]
    if len(candidates) < 2:
        return {"count": 0, "gap": None, "values": candidates.tolist(), "rule": RULE}
    ratios = candidates[:-1] / candidates[1:]
    k = int(np.argmax(ratios)) + 1
    return {"count": k, "gap": float(ratios[k - 1]), "values": candidates[:k].tolist(),
            "next": float(candidates[k]), "rule": RULE}
