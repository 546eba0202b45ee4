r"""The object every method sees: a trained model, the mean cross-entropy, one fixed batch.

:math:`L(\theta) = \frac1N \sum_{n=1}^N \ell(f_\theta(x_n), y_n)` with :math:`\ell` the
cross-entropy, on the fixed Hessian batch (the head of the seeded training subset). The
parameters are flattened in ``model.parameters()`` order; :attr:`Problem.blocks` gives each
parameter's name and slice so block-wise quantities line up across methods.

Curvature products:

* :meth:`Problem.hvp` / :meth:`Problem.hvp_batch`: :math:`Hv` for one or many vectors, by
  the batched R-operator of :mod:`core.mlp_curvature` (fastest measured) when the model is a
  plain MLP, else by ``torch.func`` forward-over-reverse.
* :meth:`Problem.hvp_autodiff`: the ``torch.func`` reference, :math:`Hv = \partial_\epsilon
  \nabla L(\theta + \epsilon v)|_0` (``jvp`` of ``grad``), used to cross-check.
* :meth:`Problem.ggn_vp_batch`: :math:`Gv = \frac1N \sum_n J_n^\top H_{L,n} J_n v`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from . import mlp_curvature


@dataclass(frozen=True)
class Block:
    """One parameter tensor's place in the flat vector."""

    name: str
    shape: tuple[int, ...]
    start: int
    stop: int

    @property
    def layer(self) -> str:
        return self.name.rsplit(".", 1)[0]


class Problem:
    """Model + mean cross-entropy + the fixed batch ``(x, y)`` whose Hessian is studied."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 256):
        self.model = model.eval()
        self.x, self.y = x, y
        self.chunk_size = chunk_size
        self.blocks: list[Block] = []
        offset = 0
        for name, param in model.named_parameters():
            self.blocks.append(Block(name, tuple(param.shape), offset, offset + param.numel()))
            offset += param.numel()
        self.num_params = offset
        self._fast = mlp_curvature.supports(model)
        self.hvp_count = 0  # Hessian- (or GGN-) vector products applied so far

    # --------------------------------------------------------------- flat parameters
    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    def flat_params(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {b.name: flat[b.start : b.stop].view(b.shape) for b in self.blocks}

    def loss_at(self, flat: torch.Tensor) -> torch.Tensor:
        logits = functional_call(self.model, self.unflatten(flat), (self.x,))
        return nn.functional.cross_entropy(logits, self.y)

    def loss(self) -> float:
        return float(self.loss_at(self.flat_params()))

    def gradient(self, flat: torch.Tensor | None = None) -> torch.Tensor:
        return grad(self.loss_at)(self.flat_params() if flat is None else flat)

    # --------------------------------------------------------------- curvature products
    def hvp_autodiff(self, v: torch.Tensor) -> torch.Tensor:
        """Reference :math:`Hv` by ``torch.func`` forward-over-reverse (one vector)."""
        return jvp(grad(self.loss_at), (self.flat_params(),), (v,))[1]

    def _chunked(self, vectors: torch.Tensor, apply) -> torch.Tensor:
        out = [apply(vectors[i : i + self.chunk_size]) for i in range(0, len(vectors), self.chunk_size)]
        self.hvp_count += len(vectors)
        return torch.cat(out) if out else vectors.clone()

    def hvp_batch(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rows of ``vectors`` (c, P) mapped to rows of ``(H @ vectors.T).T``."""
        if self._fast:
            apply = lambda chunk: mlp_curvature.curvature_matmat(self.model, self.x, self.y, chunk)
        else:
            theta = self.flat_params()
            single = lambda v: jvp(grad(self.loss_at), (theta,), (v,))[1]
            apply = vmap(single)
        return self._chunked(vectors, apply)

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        return self.hvp_batch(v[None])[0]

    def ggn_vp_batch(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rows of ``vectors`` mapped by the generalized Gauss-Newton matrix G."""
        if self._fast:
            apply = lambda chunk: mlp_curvature.curvature_matmat(self.model, self.x, self.y, chunk, ggn=True)
        else:
            apply = vmap(self.ggn_vp_autodiff)
        return self._chunked(vectors, apply)

    def ggn_vp_autodiff(self, v: torch.Tensor) -> torch.Tensor:
        r"""Reference :math:`Gv = J^\top (H_L (J v))/N` by ``torch.func`` (one vector)."""
        theta = self.flat_params()
        forward = lambda flat: functional_call(self.model, self.unflatten(flat), (self.x,))
        logits, jv = jvp(forward, (theta,), (v,))
        p = torch.softmax(logits, dim=1)
        hl_jv = (p * jv - p * (p * jv).sum(1, keepdim=True)) / self.batch_size
        return vjp(forward, theta)[1](hl_jv)[0]
