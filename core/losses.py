r"""Losses: one table from a name to the mean loss and the ``nn`` module libraries are given.

Everywhere the loss is the *mean* (PyTorch's default reduction), so the Hessian is that of the
mean loss. Adding a loss is one line here, one choice in :data:`core.config.LOSS_NAMES` and
its tests (the GGN's output Hessian follows from differentiating the loss, see
:meth:`core.problem.Problem.ggn_vp_autodiff`; its closed form in :data:`OUTPUT_HESSIANS` lets a
dense build write the head's block without products).

* ``cross_entropy``: :math:`L = \frac1N \sum_n -\log \mathrm{softmax}(f_n)_{y_n}`; targets are
  class labels. Output Hessian per example :math:`(\mathrm{diag}(p_n) - p_n p_n^\top)/N`,
  which depends on the outputs.
* ``mse``: :math:`L = \frac1{NC} \sum_n \lVert f_n - e_{y_n}\rVert^2` (``nn.MSELoss``'s mean
  is over all :math:`N \times C` entries), on one-hot targets :math:`e_{y}`. Output Hessian
  per example :math:`\frac{2}{NC} I_C`: constant, so the GGN :math:`J^\top H_L J` is
  :math:`\frac{2}{NC} J^\top J` whatever the parameters. (Papers that write
  :math:`\frac1{2N}\sum_n\lVert f_n - e_{y_n}\rVert^2` differ by the factor
  :math:`C/4` times the matrices shown here, and so do all eigenvalues.)

>>> import torch
>>> mean_loss("cross_entropy", torch.zeros(2, 4), torch.tensor([0, 3])).item() == torch.log(torch.tensor(4.)).item()
True
>>> targets("mse", torch.tensor([1, 0]), 3)
tensor([[0., 1., 0.],
        [1., 0., 0.]])
>>> mean_loss("mse", torch.zeros(2, 3), targets("mse", torch.tensor([1, 0]), 3)).item()  # two ones in 6 entries
0.3333333432674408
"""

from __future__ import annotations

import torch
from torch import nn

def squared_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``nn.functional.mse_loss`` written out: the same number, but ``torch.func``'s
    forward-over-reverse goes through it (PyTorch 2.14's ``mse_loss`` double backward under
    ``jvp`` fails with "ZeroTensors are immutable" when the targets carry no tangent)."""
    return (outputs - targets).square().mean()


#: loss name -> (functional mean loss(outputs, targets), the matching ``nn`` module class)
LOSSES = {"cross_entropy": (nn.functional.cross_entropy, nn.CrossEntropyLoss),
          "mse": (squared_error, nn.MSELoss)}

#: how each loss's GGN weighs the outputs, in words (shown on screen and in ``methods``)
OUTPUT_HESSIAN = {
    "cross_entropy": "softmax cross-entropy: H_L = (diag(p) - p p^T) / N per example",
    "mse": "squared error on one-hot targets, mean over N x C entries: H_L = 2 I / (N C), constant",
}


def _cross_entropy_output_hessians(outputs: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(outputs, dim=1)
    return (torch.diag_embed(p) - p[:, :, None] * p[:, None, :]) / len(outputs)


def _squared_error_output_hessians(outputs: torch.Tensor) -> torch.Tensor:
    n, c = outputs.shape
    return torch.eye(c, dtype=outputs.dtype, device=outputs.device).expand(n, c, c) * (2.0 / (n * c))


#: loss name -> the output Hessians of its mean loss, ``outputs (N, C) -> A (N, C, C)`` with
#: :math:`A_n = \partial^2 L / \partial f_n^2` (the formulas of :data:`OUTPUT_HESSIAN`; what the head's
#: closed-form block needs, :mod:`core.curvature.head`; a loss without one has its head built by products)
OUTPUT_HESSIANS = {"cross_entropy": _cross_entropy_output_hessians, "mse": _squared_error_output_hessians}


def targets(name: str, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """What loss ``name`` compares the outputs with: the labels (cross-entropy) or their one-hot
    rows as floats (squared error)."""
    if name == "mse":
        return nn.functional.one_hot(labels, num_classes).to(torch.get_default_dtype())
    return labels


def mean_loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean loss ``name`` of ``outputs`` against ``targets`` (see :func:`targets`)."""
    return LOSSES[name][0](outputs, targets.to(outputs.dtype) if targets.is_floating_point() else targets)


def loss_module(name: str) -> nn.Module:
    """A fresh ``nn`` module computing the same mean loss (for BackPACK, PyHessian, curvlinops)."""
    return LOSSES[name][1]()
