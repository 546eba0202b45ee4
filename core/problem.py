r"""The object every method sees: a trained model, its loss, one fixed batch, its layers.

:math:`L(\theta) = \frac1N \sum_{n=1}^N \ell(f_\theta(x_n), y_n)` with :math:`\ell` the
named loss (:mod:`core.losses`), on the fixed Hessian batch (the head of the seeded training subset). The
parameters are flattened in ``model.parameters()`` order; :attr:`Problem.blocks` gives each
parameter's name and slice so block-wise quantities line up across methods, and
:attr:`Problem.layers` the parameterised layers in forward order (the first one is the
layer that sees the raw input). The loss is named (:data:`LOSSES`); methods that hand the
model to a library take the matching ``nn`` loss module from :meth:`Problem.loss_module`.

Curvature products:

* :meth:`Problem.hvp` / :meth:`Problem.hvp_batch`: :math:`Hv` for one or many vectors, by
  the batched R-operator of :mod:`core.curvature.mlp_rop` (fastest measured) when the model
  is a plain MLP (no BatchNorm), else by ``torch.func`` forward-over-reverse (CNNs,
  BatchNorm: any differentiable model).
* :meth:`Problem.hvp_autodiff`: the ``torch.func`` reference, :math:`Hv = \partial_\epsilon
  \nabla L(\theta + \epsilon v)|_0` (``jvp`` of ``grad``), used to cross-check.
* :meth:`Problem.ggn_vp_batch`: :math:`Gv = \frac1N \sum_n J_n^\top H_{L,n} J_n v`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from . import progress
from .curvature import mlp_rop
from .losses import LOSSES, OUTPUT_HESSIANS, loss_module, targets
from .shapes import Size, module_macs, product_path

#: the working set one chunk of batched products may take
CHUNK_BYTES = 2**30
#: chunks of at most this many vectors take reverse-over-reverse products through a kept graph, on
#: every path (measured on a digits MLP of width 300, P = 22,510, N = 1,000: 7 ms a vector against
#: 16 ms for the R-operator of one vector and 7.5 ms for a gradient)
FEW_VECTORS = 4
#: on the one-vector-at-a-time product path, report progress after this many vectors (16 ms each
#: on a 14x14 CNN with N = 1,000: a quarter of a second)
SINGLE_PATH_REPORT = 16


def constant_features(x: torch.Tensor) -> torch.Tensor:
    """The indices of the columns of a batch of flat inputs ``x`` (N, d) that take one value
    over the whole batch (what :mod:`core.curvature.reduction` removes).

    >>> constant_features(torch.tensor([[0., 1., 2.], [0., 3., 2.]])).tolist()
    [0, 2]
    """
    x = x.cpu()
    return torch.nonzero((x == x[0]).all(dim=0)).flatten()


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
    def label(self) -> str:
        """What people read: ``fc1 (Linear 784→8)``, ``conv1 (Conv2d 1→4, 3×3)``, ``bn1 (BatchNorm2d 4)``."""
        m = self.module
        if isinstance(m, nn.Linear):
            return f"{self.name} (Linear {m.in_features}→{m.out_features})"
        if isinstance(m, nn.Conv2d):
            return f"{self.name} (Conv2d {m.in_channels}→{m.out_channels}, {m.kernel_size[0]}×{m.kernel_size[1]})"
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return f"{self.name} ({type(m).__name__} {m.num_features})"
        if isinstance(m, nn.LayerNorm) and len(m.normalized_shape) == 1:
            return f"{self.name} (LayerNorm {m.normalized_shape[0]})"
        return f"{self.name} ({getattr(m, 'label_detail', type(m).__name__)})"

    @property
    def slice(self) -> slice:
        return slice(self.blocks[0].start, self.blocks[-1].stop)


class Problem:
    """Model + named mean loss + the fixed batch whose Hessian is studied.

    Args:
        model: the trained network (put in eval mode: BatchNorm uses its running statistics,
            so the loss is a fixed function of the parameters).
        x: the batch's inputs, shaped as the model takes them.
        y: the batch's class labels (kept as :attr:`labels`); :attr:`targets` is what the loss
            compares the outputs with (:func:`core.losses.targets`: the labels, or one-hot rows
            for ``mse``), and is what libraries are given.
        loss: a key of :data:`LOSSES`.
        chunk_size: how many vectors one batched product handles at once, at most; fewer when
            one chunk's working set (about ``4 (2P + 4 N units)`` bytes per vector, with
            ``units`` the activations of one example) would pass :data:`CHUNK_BYTES`.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str | Callable = "cross_entropy",
                 chunk_size: int = 256, key: str | None = None):
        if callable(loss):  # a Python function of (outputs, targets) -> mean loss: the targets as given
            self._loss_function, self.loss_name = loss, f"custom ({getattr(loss, '__qualname__', type(loss).__name__)})"
        elif loss in LOSSES:
            self._loss_function, self.loss_name = LOSSES[loss][0], loss
        else:
            raise ValueError(f"loss={loss!r} is not one of {', '.join(LOSSES)} (or a function of outputs and targets)")
        self.model = model.eval()
        self.x, self.labels = x, y
        self.key = key  # what identifies this problem across rebuilds (configuration, data, code), if known
        units = self._activations_per_example()
        self.targets = y if callable(loss) else targets(loss, y, self.num_classes)
        self.targets = self._targets_in(next(model.parameters()).dtype)
        self.chunk_size = chunk_size
        self.blocks: list[Block] = []
        offset = 0
        for name, param in model.named_parameters():
            self.blocks.append(Block(name, tuple(param.shape), offset, offset + param.numel()))
            offset += param.numel()
        self.num_params = offset
        self.layers: list[Layer] = []  # each module that registers parameters itself (a shared one: its first)
        for name, module in model.named_modules():
            own = [b for b in self.blocks if b.layer == name]
            if own:
                self.layers.append(Layer(name, module, tuple(own)))
        per_vector = 4 * (2 * self.num_params + 4 * self.batch_size * max(sum(units), 1))
        self.chunk_size = max(1, min(chunk_size, CHUNK_BYTES // per_vector))
        fast = self.loss_name in mlp_rop.LOSSES and mlp_rop.supports(model)
        self.product_path = product_path(fast, self.batch_size, sum(units))
        self.hvp_count = 0  # Hessian- (or GGN-) vector products applied so far
        self.measured_product_seconds: float | None = None  # one product as timed here, when it was
        self._gradient_graphs: dict = {}  # float type (or ("ggn", float type)) -> kept graphs

    def _targets_in(self, dtype: torch.dtype | None) -> torch.Tensor:
        """The targets for a loss computed in ``dtype``: labels stay int64, one-hot rows take ``dtype``."""
        return self.targets.to(dtype) if self.targets.is_floating_point() and dtype is not None else self.targets

    def _activations_per_example(self) -> list[int]:
        """Output sizes of the leaf modules for one example, in forward order; also sets
        :attr:`num_classes` (C, the model's outputs per example) and :attr:`forward_macs`, the multiply-adds of one example's forward pass, read from
        the model itself so any model has a cost estimate (by :func:`core.shapes.module_macs`, the
        rule the layer table uses for the configured architectures before anything is built; a
        test ties the two)."""
        sizes, macs = [], []

        def record(module, _inputs, out):
            out = next((o for o in (out if isinstance(out, (tuple, list)) else (out,)) if torch.is_tensor(o)), None)
            if out is None:
                return
            sizes.append(out[0].numel())
            if isinstance(module, nn.Linear):  # on every token of a sequence: its whole output
                macs.append(module_macs("linear", out[0].numel(), module.in_features))
            elif isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                macs.append(out[0].numel() * module.in_channels // module.groups * kh * kw)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                macs.append(module_macs("batchnorm", out[0].numel()))
            elif isinstance(module, nn.Flatten):
                macs.append(module_macs("flatten", 0))
            elif isinstance(module, nn.MaxPool2d):
                kernel = module.kernel_size if isinstance(module.kernel_size, int) else 1
                macs.append(module_macs("maxpool2d", out[0].numel(), kernel=kernel))
            elif type(module).__name__ == "Attention" and out[0].dim() == 2:  # (T, d) for one example
                macs.append(module_macs("attention", out[0].numel(), out[0].shape[0]))
            else:
                macs.append(module_macs(type(module).__name__.lower(), out[0].numel()))

        hooks = [m.register_forward_hook(record) for m in self.model.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                outputs = self.model(self.x[:1])
        finally:
            for hook in hooks:
                hook.remove()
        self.forward_macs = sum(macs)
        self.num_classes = int(outputs.shape[-1]) if torch.is_tensor(outputs) and outputs.dim() >= 1 else 0
        return sizes

    @property
    def size(self) -> Size:
        """What the budget needs to know about this problem (:class:`core.shapes.Size`)."""
        return Size(self.num_params, self.batch_size, len(self.layers), self.forward_macs, self.product_path,
                    self.measured_product_seconds, self.known_null, self.known_off, self.head_params)

    @property
    def reducible(self) -> bool:
        """Whether inputs constant over the batch give a known null space
        (:mod:`core.curvature.reduction`): the first layer is a linear layer with a weight and a bias
        that sees flat inputs."""
        first = self.layers[0]  # the layer that sees the raw input
        names = [b.name.rsplit(".", 1)[-1] for b in first.blocks]
        return first.kind == "linear" and names == ["weight", "bias"] and self.x.dim() == 2

    @property
    def known_null(self) -> int:
        """The dimension of that null space: the first layer's outputs times the inputs constant
        over the batch, 0 where it is not :attr:`reducible`."""
        return self.layers[0].blocks[0].shape[0] * len(constant_features(self.x)) if self.reducible else 0

    @property
    def off_parameters(self) -> torch.Tensor | None:
        """The parameters of hidden units off on the whole batch, as a boolean mask over P
        (:func:`core.curvature.mlp_rop.off_unit_parameters`: their curvature rows are exactly
        zero), for the MLPs whose products :mod:`core.curvature.mlp_rop` computes; None elsewhere
        or when every unit is on somewhere."""
        if self.product_path != "fast":
            return None
        off = mlp_rop.off_unit_parameters(self.model, self.x)
        return off if bool(off.any()) else None

    @property
    def known_off(self) -> int:
        """The rows of the dense build known to be zero from :attr:`off_parameters`, counted as the
        build sees them: after the constant-input reduction, a first-layer unit's weights on the
        constant inputs and its bias are one row."""
        off = self.off_parameters
        if off is None:
            return 0
        if not self.reducible:
            return int(off.sum())
        bias = self.layers[0].blocks[1]
        return int(off.sum()) - int(off[bias.start:bias.stop].sum()) * len(constant_features(self.x))

    @property
    def closed_form_head(self) -> Layer | None:
        """The head whose block of H (and of G) :mod:`core.curvature.head` writes in closed form:
        the last of several parameterised layers when it is an ``nn.Linear`` on flat features
        whose output is the model's output, whose parameters are the flat vector's last entries
        and no other module's, on a loss with a closed-form output Hessian
        (:data:`~core.losses.OUTPUT_HESSIANS`); else None."""
        if not hasattr(self, "_closed_form_head"):
            self._closed_form_head = self._find_closed_form_head()
        return self._closed_form_head

    def _find_closed_form_head(self) -> Layer | None:
        if self.loss_name not in OUTPUT_HESSIANS or len(self.layers) < 2:
            return None
        head = self.layers[-1]
        if not isinstance(head.module, nn.Linear) or head.slice.stop != self.num_params:
            return None
        own = {id(p) for p in head.module.parameters(recurse=False)}
        if any(id(p) in own for m in self.model.modules() if m is not head.module for p in m.parameters(recurse=False)):
            return None  # tied weights: the head's parameters also act before it
        seen = []
        hook = head.module.register_forward_hook(lambda _m, inputs, out: seen.append((inputs[0], out)))
        try:
            with torch.no_grad():
                outputs = self.model(self.x[:2])
        finally:
            hook.remove()
        if len(seen) != 1:  # applied twice: its parameters would act on its own inputs
            return None
        features, out = seen[0]
        return head if torch.is_tensor(features) and features.dim() == 2 and outputs.dim() == 2 and out is outputs else None

    @property
    def head_params(self) -> int:
        """The parameters of :attr:`closed_form_head` (0 without one): columns of a dense build taken
        without products."""
        head = self.closed_form_head
        return 0 if head is None else head.slice.stop - head.slice.start

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def custom_loss(self) -> bool:
        """Whether the loss is the caller's own function (not one of :data:`LOSSES`)."""
        return self.loss_name not in LOSSES

    def loss_module(self) -> nn.Module:
        """A fresh ``nn`` loss module (mean reduction) for libraries that take one.

        Raises:
            NotImplementedError: the loss is the caller's own function, which such a library
                (BackPACK, curvlinops) has no rule for.
        """
        if self.custom_loss:
            raise NotImplementedError(f"its library needs the loss as one of {', '.join(LOSSES)}; this problem's "
                                      f"loss is {self.loss_name}")
        return loss_module(self.loss_name)

    def criterion(self) -> Callable:
        """The mean loss as a callable ``(outputs, targets) -> loss`` (PyHessian takes any)."""
        return self._loss_function if self.custom_loss else self.loss_module()

    # --------------------------------------------------------------- flat parameters
    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    def flat_params(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {b.name: flat[b.start : b.stop].view(b.shape) for b in self.blocks}

    def _forward(self, dtype: torch.dtype | None = None):
        """``flat -> outputs`` with every floating tensor (inputs, buffers such as BatchNorm's
        running statistics) in ``dtype`` (default: the parameters')."""
        dtype = dtype or next(self.model.parameters()).dtype
        buffers = {name: b.to(dtype) if b.is_floating_point() else b for name, b in self.model.named_buffers()}
        x = self.x.to(dtype)
        return lambda flat: functional_call(self.model, {**self.unflatten(flat), **buffers}, (x,))

    def _loss_in(self, dtype: torch.dtype | None = None):
        """``flat -> mean loss`` computed in ``dtype``."""
        forward, target = self._forward(dtype), self._targets_in(dtype)
        return lambda flat: self._loss_function(forward(flat), target)

    def loss_at(self, flat: torch.Tensor) -> torch.Tensor:
        return self._loss_in(flat.dtype)(flat)

    @property
    def finite(self) -> bool:
        """Whether the parameters, the loss and its gradient are finite (not after a diverged run)."""
        if not hasattr(self, "_finite"):
            theta = self.flat_params()
            self._finite = bool(torch.isfinite(theta).all()) and bool(torch.isfinite(self.gradient(theta)).all()) \
                and bool(torch.isfinite(self.loss_at(theta)))
        return self._finite

    def loss(self) -> float:
        return float(self.loss_at(self.flat_params()))

    def gradient(self, flat: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`\\nabla L(\\theta)` by one reverse pass (``torch.autograd``, not ``torch.func.grad``,
        whose first call imports ``torch._dynamo``: 1-2 s of the app's cold start)."""
        flat = (self.flat_params() if flat is None else flat).detach().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(self.loss_at(flat), flat)[0]

    # --------------------------------------------------------------- curvature products
    def hvp_autodiff(self, v: torch.Tensor) -> torch.Tensor:
        """Reference :math:`Hv` by ``torch.func`` forward-over-reverse (one vector)."""
        return jvp(grad(self.loss_at), (self.flat_params(),), (v,))[1]

    def _chunked(self, vectors: torch.Tensor, apply) -> torch.Tensor:
        # the single path takes one vector at a time whatever the chunk, so it reports (and can be
        # stopped) every SINGLE_PATH_REPORT vectors, not after a whole chunk (up to 4 s on a CNN)
        step = min(self.chunk_size, SINGLE_PATH_REPORT) if self.product_path == "single" else self.chunk_size
        out = []
        for i in range(0, len(vectors), step):
            out.append(apply(vectors[i : i + step]))
            progress.tick(len(out[-1]))  # the progress bar, and where the app can stop a long method
        self.hvp_count += len(vectors)
        return torch.cat(out) if out else vectors.clone()

    def hvp_batch(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rows of ``vectors`` (c, P) mapped to rows of ``(H @ vectors.T).T``."""
        if self.product_path == "fast":  # few vectors: one backward pass each through a kept graph is faster
            apply = lambda chunk: (mlp_rop.curvature_matmat(self.model, self.x, self.labels, chunk, loss=self.loss_name)
                                   if len(chunk) > FEW_VECTORS else self._hvp_reverse_over_reverse(chunk))
        else:  # in the vectors' float type (a float64 spectrum of a float32 model is float64 throughout)
            theta = self.flat_params().to(vectors.dtype)
            gradient = grad(self._loss_in(vectors.dtype))
            batched = vmap(lambda v: jvp(gradient, (theta,), (v,))[1])
            apply = lambda chunk: (batched(chunk) if len(chunk) > FEW_VECTORS and self.product_path == "batched"
                                   else self._hvp_reverse_over_reverse(chunk))
        return self._chunked(vectors, apply)

    def _hvp_reverse_over_reverse(self, vectors: torch.Tensor) -> torch.Tensor:
        r""":math:`Hv = \nabla_\theta (\nabla L \cdot v)` through a gradient graph built once per
        float type and kept (Pearlmutter 1994): one backward pass per vector, no forward.

        Measured on an 8x8-digits CNN (P = 690, N = 100): 1.1 ms a vector against 4.7 ms for
        ``jvp(grad)``, which redoes the forward and first backward each call; for many vectors
        at once ``vmap(jvp(grad))`` is faster (22 ms for 64 against 47 ms), hence
        :data:`FEW_VECTORS`, unless one vector's activations over the batch are large
        (:func:`core.shapes.product_path`): on a CNN on 14x14 MNIST with N = 1,000 this path
        takes 16 ms a vector at every chunk size and ``vmap`` 30-40 ms."""
        if vectors.dtype not in self._gradient_graphs:
            theta = self.flat_params().to(vectors.dtype).requires_grad_(True)
            with torch.enable_grad():
                gradient = torch.autograd.grad(self._loss_in(vectors.dtype)(theta), theta, create_graph=True)[0]
            self._gradient_graphs[vectors.dtype] = (theta, gradient)
        theta, gradient = self._gradient_graphs[vectors.dtype]
        with torch.enable_grad():
            return torch.stack([torch.autograd.grad(gradient, theta, v, retain_graph=True)[0] for v in vectors])

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        return self.hvp_batch(v[None])[0]

    def ggn_vp_batch(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rows of ``vectors`` mapped by the generalized Gauss-Newton matrix G."""
        if self.product_path == "fast":
            apply = lambda chunk: (mlp_rop.curvature_matmat(self.model, self.x, self.labels, chunk, ggn=True,
                                                            loss=self.loss_name)
                                   if len(chunk) > FEW_VECTORS else self._ggn_reverse(chunk))
        else:  # in the vectors' float type
            batched = vmap(self.ggn_vp_autodiff)
            apply = lambda chunk: (batched(chunk) if len(chunk) > FEW_VECTORS and self.product_path == "batched"
                                   else self._ggn_reverse(chunk))
        return self._chunked(vectors, apply)

    def _ggn_reverse(self, vectors: torch.Tensor) -> torch.Tensor:
        r""":math:`Gv = J^\top H_L J v` through an output graph built once per float type: :math:`Jv`
        by differentiating :math:`u \mapsto J^\top u` (linear in :math:`u`) along :math:`v`, then
        :math:`J^\top (H_L Jv)` by one more backward pass; two backward passes a vector, no forward."""
        key = ("ggn", vectors.dtype)
        if key not in self._gradient_graphs:
            theta = self.flat_params().to(vectors.dtype).requires_grad_(True)
            with torch.enable_grad():
                outputs = self._forward(vectors.dtype)(theta)
                dummy = torch.zeros_like(outputs, requires_grad=True)
                transposed = torch.autograd.grad(outputs, theta, dummy, create_graph=True)[0]
            self._gradient_graphs[key] = (theta, outputs, dummy, transposed)
        theta, outputs, dummy, transposed = self._gradient_graphs[key]
        target = self._targets_in(vectors.dtype)
        output_grad = grad(lambda f: self._loss_function(f, target))
        fixed = outputs.detach()
        rows = []
        with torch.enable_grad():
            for v in vectors:
                jv = torch.autograd.grad(transposed, dummy, v, retain_graph=True)[0]
                hl_jv = jvp(output_grad, (fixed,), (jv,))[1]
                rows.append(torch.autograd.grad(outputs, theta, hl_jv, retain_graph=True)[0])
        return torch.stack(rows)

    def ggn_vp_autodiff(self, v: torch.Tensor) -> torch.Tensor:
        r"""Reference :math:`Gv = J^\top H_L J v` by ``torch.func`` (one vector).

        :math:`H_L` is the Hessian of the mean loss with respect to the outputs (for the mean
        cross-entropy, :math:`(\mathrm{diag}(p) - pp^\top)/N` per example; for the squared
        error, :math:`2I/(NC)`; see :mod:`core.losses`), applied to :math:`Jv` by
        differentiating the loss's output gradient along it."""
        theta = self.flat_params().to(v.dtype)
        forward = self._forward(v.dtype)
        logits, jv = jvp(forward, (theta,), (v,))
        target = self._targets_in(v.dtype)
        output_grad = grad(lambda f: self._loss_function(f, target))
        hl_jv = jvp(output_grad, (logits,), (jv,))[1]
        return vjp(forward, theta)[1](hl_jv)[0]
