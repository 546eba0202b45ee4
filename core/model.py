"""The network: a fully connected MLP ``Linear -> act -> ... -> Linear`` as ``nn.Sequential``.

Inputs arrive flattened (images are pooled and flattened in :mod:`core.data`), so the model
holds only ``Linear`` layers and elementwise activations. That keeps it inside what every
method here supports (BackPACK's extensions, the batched R-operator in
:mod:`core.mlp_curvature`) and makes P easy to control.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def build_mlp(layer_sizes: list[int], activation: str, seed: int) -> nn.Sequential:
    """An MLP with PyTorch's default initialisation drawn from ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: dict[str, nn.Module] = {}
        for i, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
            layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
            if i < len(layer_sizes) - 1:
                layers[f"act{i}"] = ACTIVATION_MODULES[activation]()
        return nn.Sequential(OrderedDict(layers))
    finally:
        torch.random.set_rng_state(generator_state)
