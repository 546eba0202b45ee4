r"""The object every method sees: a trained model, its loss, one fixed batch, its layers.

:math:`L(\theta) = \frac1N \sum_{n=1}^N \ell(f_\theta(x_n), y_n)` with :math:`\ell` the
cross-entropy, on the fixed Hessian batch (the head of the seeded training subset). The
parameters are flattened in ``model.parameters()`` order; :attr:`Problem.blocks` gives each
parameter's name and slice so block-wise quantities line up across methods, and
:attr:`Problem.layers` the parameterised layers in forward order (the first one is the
layer that sees the raw input). The loss is named (:data:`LOSSES`); methods that hand the
model to a library take the matching ``nn`` loss module from :meth:`Problem.loss_module`.

Curvature products:

* :meth:`Problem.hvp` / :meth:`Problem.hvp_batch`: :math:`Hv` for one or many vectors, by
  the batched R-operator of :mod:`core.curvature.mlp_rop` (fastest measured) when the model
  is a plain MLP with cross-entropy, else by ``torch.func`` forward-over-reverse.
* :meth:`Problem.hvp_autodiff`: the ``torch.func`` reference, :math:`Hv = \partial_\epsilon
  \nabla L(\theta + \epsilon v)|_0` (``jvp`` of ``grad``), used to cross-check.
* :meth:`Problem.ggn_vp_batch`: :math:`Gv = \frac1N \sum_n J_n^\top H_{L,n} J_n v`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from .curvature import mlp_rop
from .losses import LOSSES, loss_module

#: the working set one chunk of batched products may take
CHUNK_BYTES = 2**30


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


@dataclass(frozen=True)
class Layer:
    """A module that owns parameters, with its parameters' blocks, in forward order."""

    name: str
    module: nn.Module
    blocks: tuple[Block, ...]

    @property
    def kind(self) -> str:
        """``"linear"``, ``"conv2d"``, ... (the module's class name, lower case)."""
        return type(self.module).__name__.lower()

    @property
    def slice(self) -> slice:
        return slice(self.blocks[0].start, self.blocks[-1].stop)


class Problem:
    """Model + named mean loss + the fixed batch ``(x, y)`` whose Hessian is studied.

    Args:
        model: the trained network (put in eval mode).
        x, y: the Hessian batch.
        loss: a key of :data:`LOSSES`.
        chunk_size: how many vectors one batched product handles at once, at most; fewer when
            one chunk's working set (about ``4 (2P + 4 N units)`` bytes per vector) would pass
            :data:`CHUNK_BYTES`.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy",
                 chunk_size: int = 256):
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is not one of {', '.join(LOSSES)}")
        self.model = model.eval()
        self.x, self.y = x, y
        self.loss_name = loss
        self._loss_function = LOSSES[loss][0]
        self.chunk_size = chunk_size
        self.blocks: list[Block] = []
        offset = 0
        for name, param in model.named_parameters():
            self.blocks.append(Block(name, tuple(param.shape), offset, offset + param.numel()))
            offset += param.numel()
        self.num_params = offset
        self.layers: list[Layer] = []
        for name, module in model.named_modules():
            own = [b for b in self.blocks if b.layer == name]
            if own and not list(module.children()):
                self.layers.append(Layer(name, module, tuple(own)))
        units = sum(int(getattr(layer.module, "out_features", 0) or 0) for layer in self.layers)
        per_vector = 4 * (2 * self.num_params + 4 * self.batch_size * max(units, 1))
        self.chunk_size = max(1, min(chunk_size, CHUNK_BYTES // per_vector))
        self._fast = loss == "cross_entropy" and mlp_rop.supports(model)
        self.hvp_count = 0  # Hessian- (or GGN-) vector products applied so far

    @property
    def device(self) -> torch.device:
        return self.x.device

    def loss_module(self) -> nn.Module:
        """A fresh ``nn`` loss module (mean reduction) for libraries that take one."""
        return loss_module(self.loss_name)

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
        return self._loss_function(logits, self.y)

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
            apply = lambda chunk: mlp_rop.curvature_matmat(self.model, self.x, self.y, chunk)
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
            apply = lambda chunk: mlp_rop.curvature_matmat(self.model, self.x, self.y, chunk, ggn=True)
        else:
            apply = vmap(self.ggn_vp_autodiff)
        return self._chunked(vectors, apply)

    def ggn_vp_autodiff(self, v: torch.Tensor) -> torch.Tensor:
        r"""Reference :math:`Gv = J^\top H_L J v` by ``torch.func`` (one vector).

        :math:`H_L` is the Hessian of the mean loss with respect to the outputs (for the mean
        cross-entropy, :math:`(\mathrm{diag}(p) - pp^\top)/N` per example), applied to
        :math:`Jv` by differentiating the loss's output gradient along it."""
        theta = self.flat_params()
        forward = lambda flat: functional_call(self.model, self.unflatten(flat), (self.x,))
        logits, jv = jvp(forward, (theta,), (v,))
        output_grad = grad(lambda f: self._loss_function(f, self.y))
        hl_jv = jvp(output_grad, (logits,), (jv,))[1]
        return vjp(forward, theta)[1](hl_jv)[0]
