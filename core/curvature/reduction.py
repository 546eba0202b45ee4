r"""Exact null space from inputs that are constant over the batch, removed before the eigensolver.

The first layer sees its parameters only through :math:`z = x W_1^\top + b_1`. If input
feature :math:`l` has the same value :math:`c_l` for every example of the batch (MNIST's
border pixels: 181 of 784 on the benchmark batch), moving :math:`W_1[j, l]` by
:math:`c_l t` is the same as moving :math:`b_1[j]` by :math:`t`. So for each hidden unit
:math:`j`, on the span :math:`S_j` of the coordinates :math:`\{W_1[j, l]\}_{l \in C} \cup
\{b_1[j]\}` the loss depends on one direction only,

.. math:: u_j \propto (c_C, 1) \quad (\text{entries at } W_1[j, C] \text{ and } b_1[j]),

and the Hessian (and the GGN, by the same argument on :math:`J`) vanishes on the
:math:`|C|`-dimensional complement of :math:`u_j` in :math:`S_j`: those are exact zero
eigenvalues. With :math:`E` the orthonormal basis made of every other coordinate vector and
the :math:`u_j`, :math:`\mathrm{range}(E)^\perp \subset \ker H` and so

.. math:: \mathrm{spec}(H) = \mathrm{spec}(E^\top H E) \cup \{0\}^{h|C|},
   \qquad \mathrm{tr}\,H = \mathrm{tr}(E^\top H E).

:math:`E^\top H E` takes :math:`P' = P - h|C|` products instead of :math:`P` and the
eigensolver, :math:`O(P'^3)`, dominates: on the benchmark this is a 0.46x smaller solve.
The diagonal of H is recovered exactly: :math:`H|_{S_j} = \alpha_j u_j u_j^\top` with
:math:`\alpha_j = u_j^\top H u_j`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..problem import Problem, constant_features


@dataclass
class ConstantInputReduction:
    """The basis E of the docstring, stored sparsely."""

    num_params: int
    kept: torch.Tensor  # coordinates kept as they are
    merged: torch.Tensor  # (h, |C| + 1): for each unit j, the indices W1[j, C] then b1[j]
    weights: torch.Tensor  # (|C| + 1,): u_j's entries, the same for every j (unit norm)

    @property
    def reduced_size(self) -> int:
        return len(self.kept) + len(self.merged)

    @property
    def null_dimension(self) -> int:
        return self.num_params - self.reduced_size

    def columns(self, cols: torch.Tensor, dtype) -> torch.Tensor:
        """The columns ``cols`` of E, as rows of a (len(cols), P) matrix."""
        rows = torch.zeros(len(cols), self.num_params, dtype=dtype)
        unit = cols < len(self.kept)
        rows[torch.nonzero(unit).flatten(), self.kept[cols[unit]]] = 1.0
        merged_rows = torch.nonzero(~unit).flatten()
        if len(merged_rows):
            rows[merged_rows[:, None], self.merged[cols[~unit] - len(self.kept)]] = self.weights.to(dtype)
        return rows

    def kept_position(self, flat: torch.Tensor) -> torch.Tensor:
        """The columns of E that are the kept coordinates ``flat`` (flat indices, each kept)."""
        position = torch.searchsorted(self.kept, flat)
        if bool((position >= len(self.kept)).any()) or not bool((self.kept[position.clamp(max=len(self.kept) - 1)] == flat).all()):
            raise ValueError("some of these coordinates are merged by the reduction, not kept")
        return position

    def within(self, params: torch.Tensor) -> torch.Tensor:
        """Which columns of E lie inside the parameters of the boolean mask ``params`` (over P):
        a mask over P'."""
        return torch.cat([params[self.kept], params[self.merged].all(dim=1)])

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        """``vectors @ E``: (c, P) -> (c, P')."""
        merged = (vectors[:, self.merged] * self.weights.to(vectors.dtype).to(vectors.device)).sum(-1)
        return torch.cat([vectors[:, self.kept], merged], dim=1)

    def lift(self, vectors: torch.Tensor) -> torch.Tensor:
        """``vectors @ E^T``: (c, P') -> (c, P), the inverse of :meth:`project` on range(E)."""
        out = torch.zeros(vectors.shape[0], self.num_params, dtype=vectors.dtype, device=vectors.device)
        out[:, self.kept] = vectors[:, : len(self.kept)]
        out[:, self.merged] = vectors[:, len(self.kept):, None] * self.weights.to(vectors.dtype).to(vectors.device)
        return out

    def full_matrix(self, reduced: torch.Tensor) -> torch.Tensor:
        r""":math:`H = E (E^\top H E) E^\top` from the reduced matrix: exact, because
        :math:`\mathrm{range}(E)^\perp \subset \ker H` (module docstring). O(P^2), no products."""
        return self.lift(self.lift(reduced).T.contiguous())

    def full_diagonal(self, reduced: torch.Tensor) -> np.ndarray:
        """diag(H) from the reduced matrix ``E^T H E`` (see the module docstring)."""
        diagonal = torch.zeros(self.num_params, dtype=torch.float64)
        reduced_diagonal = torch.diagonal(reduced).double().cpu()
        diagonal[self.kept] = reduced_diagonal[: len(self.kept)]
        alpha = reduced_diagonal[len(self.kept):]
        diagonal[self.merged] = alpha[:, None] * self.weights.double()[None, :] ** 2
        return diagonal.numpy()


def constant_input_reduction(problem: Problem) -> ConstantInputReduction | None:
    """The reduction for ``problem``, or None when no input is constant over its batch."""
    if not problem.reducible:
        return None
    first_weight, first_bias = problem.layers[0].blocks
    x = problem.x.cpu()
    constant = constant_features(x)
    if len(constant) == 0:
        return None
    hidden, inputs = first_weight.shape
    units = torch.arange(hidden)
    weight_idx = first_weight.start + units[:, None] * inputs + constant[None, :]
    bias_idx = first_bias.start + units[:, None]
    merged = torch.cat([weight_idx, bias_idx], dim=1)
    values = torch.cat([x[0, constant].double(), torch.ones(1, dtype=torch.float64)])
    weights = values / values.norm()
    removed = torch.zeros(problem.num_params, dtype=torch.bool)
    removed[merged.flatten()] = True
    kept = torch.nonzero(~removed).flatten()
    return ConstantInputReduction(problem.num_params, kept, merged, weights)


def nonzero_rows(matrix: torch.Tensor) -> torch.Tensor | None:
    r"""The indices K of the rows of a symmetric ``matrix`` M that are not exactly zero, or None
    when every row has a nonzero entry.

    A zero row i is a zero column (symmetry), so :math:`M e_i = 0` and, with Z the zero rows,

    .. math:: \mathrm{spec}(M) = \mathrm{spec}(M_{KK}) \cup \{0\}^{|Z|}, \qquad
       \mathrm{tr}\, M = \mathrm{tr}\, M_{KK},

    and an eigenvector y of :math:`M_{KK}` is the eigenvector of M that is y on K and 0 on Z:
    an exact deflation of the matrix as built, whatever made the rows zero. A network's hidden
    unit that is off on every example of the batch (a dead ReLU; on the MNIST default at width
    16, 5 of 16 units after training) gives zero rows at its incoming and outgoing weights: 3,070
    of the 9,834 rows of the reduced Hessian there: ``eigvalsh`` 6.6 s instead of 18.9 s.

    >>> nonzero_rows(torch.tensor([[2., 0., 1.], [0., 0., 0.], [1., 0., 3.]])).tolist()
    [0, 2]
    >>> nonzero_rows(torch.eye(2)) is None
    True
    """
    kept = torch.nonzero((matrix != 0).any(dim=1)).flatten()
    return None if len(kept) == matrix.shape[0] else kept.cpu()
