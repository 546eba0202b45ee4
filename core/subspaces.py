r"""How well a method's eigenvectors point where the reference's do: subspace agreement.

For two k-dimensional subspaces with orthonormal bases :math:`U, V \in \mathbb{R}^{P \times k}`
(rows of the ``(k, P)`` arrays here):

* **overlap** :math:`\lVert U^\top V\rVert_F^2 / k \in [0, 1]`: the mean squared cosine of the
  principal angles; 1 when the subspaces coincide, about :math:`k/P` for a random one (Gur-Ari,
  Roberts & Dyer 2018 measure the gradient's share of the top subspace the same way);
* **principal angles** :math:`\theta_i = \arccos \sigma_i(U^\top V)` (Björck & Golub 1973),
  ascending: the largest says how far the worst direction is off;
* **overlap matrix** :math:`|u_i^\top v_j|` for unit eigenvectors in rank order: a diagonal of
  ones when ranks match one to one, off-diagonal mass where two ranks swapped (near-equal
  eigenvalues), spread where the directions are wrong.

A method's vectors are orthonormalised (QR) before the subspace measures, so power iteration's
nearly orthogonal iterates are measured as the subspace they span. Near-equal reference
eigenvalues at rank k make the top-k subspace itself ill-defined: :func:`gap_ratio` says when.
All numpy (the app reads cached results without torch).
"""

from __future__ import annotations

import numpy as np

from .results import Result


def orthonormal_rows(vectors: np.ndarray) -> np.ndarray:
    """An orthonormal basis (rows) of the span of the rows of ``vectors``, in float64.

    >>> (orthonormal_rows(np.array([[2.0, 0.0], [1.0, 1.0]])).round(6) + 0.0).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    original = np.asarray(vectors, dtype=np.float64)
    q, _ = np.linalg.qr(original.T)
    return _signed(q.T, original)


def _signed(basis: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``basis`` with each row's sign matched to the original row it came from (readable output)."""
    signs = np.sign(np.einsum("ij,ij->i", basis, original))
    signs[signs == 0] = 1.0
    return basis * signs[:, None]


def overlap(reference: np.ndarray, vectors: np.ndarray) -> float:
    r""":math:`\lVert U^\top V\rVert_F^2 / k` of the two row spans (module docstring), k the
    smaller dimension.

    >>> e = np.eye(4)
    >>> overlap(e[:2], e[:2]), overlap(e[:2], e[2:]), overlap(e[:2], e[[0, 2]])
    (1.0, 0.0, 0.5)
    """
    u, v = orthonormal_rows(reference), orthonormal_rows(vectors)
    k = min(len(u), len(v))
    return float(np.sum((u @ v.T) ** 2) / k) if k else float("nan")


def principal_angles(reference: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The principal angles between the two row spans, in degrees, ascending: small ones from
    the sines (the residual of projecting one basis on the other), large ones from the cosines,
    each where it is well conditioned (Knyazev & Argentati 2002).

    >>> t = np.radians(30.0)
    >>> principal_angles(np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([[1.0, 0, 0], [0, np.cos(t), np.sin(t)]]))
    array([ 0., 30.])
    """
    u, v = orthonormal_rows(reference), orthonormal_rows(vectors)
    if len(v) > len(u):
        u, v = v, u
    cosines = np.clip(np.linalg.svd(u @ v.T, compute_uv=False), 0.0, 1.0)  # descending
    sines = np.clip(np.linalg.svd(v - (v @ u.T) @ u, compute_uv=False)[::-1], 0.0, 1.0)  # ascending
    angles = np.where(cosines ** 2 >= 0.5, np.arcsin(sines), np.arccos(cosines))
    return np.degrees(angles)


def overlap_matrix(reference: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    r""":math:`|u_i^\top v_j|` for the unit rows (reference rank i, method rank j).

    >>> overlap_matrix(np.eye(3)[:2], np.eye(3)[[1, 0]]).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    u = np.asarray(reference, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return np.abs(u @ v.T)


def gap_ratio(values: np.ndarray, k: int) -> float | None:
    r"""The relative gap after the k-th of descending ``values``,
    :math:`(\lambda_k - \lambda_{k+1}) / |\lambda_k|`: near zero, the top-k subspace is not
    determined (any rotation inside the cluster is as good) and a low overlap says nothing.

    >>> gap_ratio(np.array([5.0, 4.0, 1.0]), 2), gap_ratio(np.array([5.0, 4.0]), 2)
    (0.75, None)
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) <= k or values[k - 1] == 0:
        return None
    return float((values[k - 1] - values[k]) / abs(values[k - 1]))


def agreement(result: Result, reference: Result, k: int) -> dict | None:
    """The top-k subspace agreement of ``result``'s eigenvectors with ``reference``'s: overlap,
    principal angles, the overlap matrix and the reference's gap at k; None when either has no
    vectors. k is lowered to what both have."""
    mine, theirs = result.vectors("top"), reference.vectors("top")
    if mine is None or theirs is None or result is reference:
        return None
    k = min(k, len(mine), len(theirs))
    if k < 1:
        return None
    angles = principal_angles(theirs[:k], mine[:k])
    return {"k": k, "overlap": overlap(theirs[:k], mine[:k]), "largest_angle": float(angles[-1]),
            "principal_angles": angles, "overlap_matrix": overlap_matrix(theirs[:k], mine[:k]),
            "reference_gap": gap_ratio(reference.top, k)}
