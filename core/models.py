"""Architectures: one table from a name to a builder; P is read from the built model.

Adding an architecture is one builder here, one choice in
:data:`core.config.ARCHITECTURES` and its tests. Every builder takes the config, the input
dimension of the dataset actually used and the number of classes, and returns a module whose
parameters are all trainable and are initialised from ``config.seed`` (PyTorch's default
initialisation, drawn from a private generator state so the global RNG is left as found).

* ``mlp``: ``Linear -> act -> ... -> Linear`` as ``nn.Sequential`` named ``fc1, act1, ...``;
  inputs arrive flattened (:mod:`core.data` pools and flattens images). That keeps it inside
  what every method supports (BackPACK, the batched R-operator of
  :mod:`core.curvature.mlp_rop`).

>>> from core.config import ExperimentConfig
>>> model = build_model(ExperimentConfig(hidden=(3,)), input_dim=4, num_classes=10)
>>> num_params(model)  # (4*3 + 3) + (3*10 + 10)
55
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from .config import ExperimentConfig

ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def build_mlp(layer_sizes: list[int], activation: str, seed: int) -> nn.Sequential:
    """An MLP with PyTorch's default initialisation drawn from ``seed``.

    Args:
        layer_sizes: ``[inputs, hidden..., outputs]``.
        activation: a key of :data:`ACTIVATION_MODULES`.
        seed: initialisation seed; the global RNG state is restored afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: dict[str, nn.Module] = {}
        for i, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
            layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
            if i < len(layer_sizes) - 1:
                layers[f"act{i}"] = ACTIVATION_MODULES[activation]()
        return nn.Sequential(OrderedDict(layers))


def _mlp(config: ExperimentConfig, input_dim: int, num_classes: int) -> nn.Module:
    return build_mlp([input_dim, *config.hidden, num_classes], config.activation, config.seed)


#: architecture name -> builder(config, input_dim, num_classes)
MODELS: dict[str, Callable[[ExperimentConfig, int, int], nn.Module]] = {"mlp": _mlp}


def build_model(config: ExperimentConfig, input_dim: int, num_classes: int) -> nn.Module:
    """The configured architecture, initialised from ``config.seed``.

    Args:
        config: the experiment (``architecture`` picks the builder).
        input_dim: features per example of the dataset actually used.
        num_classes: outputs of the head.
    Returns:
        An ``nn.Module`` in eval mode.
    """
    return MODELS[config.architecture](config, input_dim, num_classes).eval()


def num_params(model: nn.Module) -> int:
    """P: the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
