"""Losses: one table from a name to the mean loss and the ``nn`` module libraries are given.

Everywhere the loss is the *mean* over the batch (PyTorch's default reduction), so the
Hessian is that of the mean loss. Adding a loss is one line here, one choice in
:data:`core.config.LOSS_NAMES` and its tests (the GGN's output Hessian follows from
differentiating the loss, see :meth:`core.problem.Problem.ggn_vp_autodiff`).

>>> import torch
>>> mean_loss("cross_entropy", torch.zeros(2, 4), torch.tensor([0, 3])).item() == torch.log(torch.tensor(4.)).item()
True
"""

from __future__ import annotations

import torch
from torch import nn

#: loss name -> (functional mean loss(outputs, targets), the matching ``nn`` module class)
LOSSES = {"cross_entropy": (nn.functional.cross_entropy, nn.CrossEntropyLoss)}


def mean_loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean loss ``name`` of ``outputs`` against ``targets``."""
    return LOSSES[name][0](outputs, targets)


def loss_module(name: str) -> nn.Module:
    """A fresh ``nn`` module computing the same mean loss (for BackPACK, PyHessian, curvlinops)."""
    return LOSSES[name][1]()
