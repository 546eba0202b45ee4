"""The layers of each architecture as plain numbers: names, parameter counts, forward cost.

Torch-free, so the size of a problem (P, and the multiply-adds of one forward pass that set
the cost of a curvature-vector product) is known before anything is imported, built or
trained; :mod:`core.models` builds the modules from the same table and a test checks that
the counts agree with the built model.

* ``mlp``: ``fc1 [-> bn1] -> act1 -> ... -> fc{L+1}`` on flattened inputs.
* ``cnn`` (LeNet-style, LeCun et al. 1998): per channel count ``c_i``,
  ``conv{i}`` (3x3, stride 1, padding 1, side kept) ``[-> bn{i}] -> act{i} -> pool{i}``
  (2x2 max pooling, side halved, rounded down), then ``flatten -> fc`` to the C classes.

With ``batch_norm`` the layer before each BatchNorm has no bias (BatchNorm's shift ``beta``
plays its part; a bias there would only add an exact flat direction of the loss).

>>> from core.config import ExperimentConfig
>>> [l.name for l in layer_table(ExperimentConfig(architecture="cnn", hidden=(4,)), 64, 10)]
['conv1', 'act1', 'pool1', 'flatten', 'fc']
>>> num_params(ExperimentConfig(architecture="cnn", hidden=(4,)), 64, 10)  # 4*9 + 4 + (4*16*10 + 10)
690
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ExperimentConfig

KERNEL = 3
POOL = 2


@dataclass(frozen=True)
class LayerShape:
    """One module of the network: its name, kind and size.

    Attributes:
        name: module name in the ``nn.Sequential`` (``fc1``, ``conv2``, ``bn1``, ...).
        kind: ``linear``, ``conv2d``, ``batchnorm1d``, ``batchnorm2d``, ``activation``,
            ``maxpool2d`` or ``flatten``.
        params: trainable parameters it owns.
        macs: multiply-adds of its forward pass for one example.
        inputs, outputs: features (linear), channels (conv, BatchNorm) in and out.
        bias: whether a linear or convolution layer has a bias.
        side: the side of its output image (cnn), else 0.
        activations: the numbers it outputs for one example.
    """

    name: str
    kind: str
    params: int
    macs: int
    inputs: int = 0
    outputs: int = 0
    bias: bool = True
    side: int = 0
    activations: int = 0

    @property
    def label(self) -> str:
        """What people read, e.g. ``conv1 (Conv2d 1→4, 3×3)``."""
        if self.kind == "linear":
            return f"{self.name} (Linear {self.inputs}→{self.outputs})"
        if self.kind == "conv2d":
            return f"{self.name} (Conv2d {self.inputs}→{self.outputs}, {KERNEL}×{KERNEL})"
        if self.kind.startswith("batchnorm"):
            return f"{self.name} (BatchNorm{self.kind[-2:]} {self.outputs})"
        return self.name


def _mlp(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    layers, fan_in = [], input_dim
    for i, width in enumerate(config.hidden, start=1):
        bias = not config.batch_norm
        layers.append(LayerShape(f"fc{i}", "linear", fan_in * width + width * bias, fan_in * width, fan_in, width, bias,
                                 activations=width))
        if config.batch_norm:
            layers.append(LayerShape(f"bn{i}", "batchnorm1d", 2 * width, 2 * width, width, width, activations=width))
        layers.append(LayerShape(f"act{i}", "activation", 0, width, activations=width))
        fan_in = width
    n = len(config.hidden) + 1
    layers.append(LayerShape(f"fc{n}", "linear", fan_in * num_classes + num_classes, fan_in * num_classes,
                             fan_in, num_classes, activations=num_classes))
    return layers


def _cnn(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    side = math.isqrt(input_dim)
    if side * side != input_dim:
        raise ValueError(f"a cnn needs square images; {input_dim} inputs are not one")
    layers, channels = [], 1
    for i, out in enumerate(config.hidden, start=1):
        bias = not config.batch_norm
        weights = channels * out * KERNEL * KERNEL
        pixels = out * side * side
        layers.append(LayerShape(f"conv{i}", "conv2d", weights + out * bias, weights * side * side, channels, out,
                                 bias, side, pixels))
        if config.batch_norm:
            layers.append(LayerShape(f"bn{i}", "batchnorm2d", 2 * out, 2 * pixels, out, out, side=side,
                                     activations=pixels))
        layers.append(LayerShape(f"act{i}", "activation", 0, pixels, side=side, activations=pixels))
        side //= POOL
        if side < 1:
            raise ValueError(f"{len(config.hidden)} pooling blocks leave no pixel of {math.isqrt(input_dim)}x"
                             f"{math.isqrt(input_dim)} images")
        layers.append(LayerShape(f"pool{i}", "maxpool2d", 0, out * side * side * POOL * POOL, side=side,
                                 activations=out * side * side))
        channels = out
    features = channels * side * side
    layers.append(LayerShape("flatten", "flatten", 0, 0, activations=features))
    layers.append(LayerShape("fc", "linear", features * num_classes + num_classes, features * num_classes,
                             features, num_classes, activations=num_classes))
    return layers


#: architecture -> (config, input_dim, num_classes) -> its layers in forward order
SHAPES = {"mlp": _mlp, "cnn": _cnn}


def layer_table(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    """The configured network's modules in forward order."""
    return SHAPES[config.architecture](config, input_dim, num_classes)


def num_params(config: ExperimentConfig, input_dim: int, num_classes: int) -> int:
    """P of the configured network, without building it."""
    return sum(layer.params for layer in layer_table(config, input_dim, num_classes))


def forward_macs(config: ExperimentConfig, input_dim: int, num_classes: int) -> int:
    """Multiply-adds of one forward pass for one example (what a product's cost scales with).

    >>> from core.config import ExperimentConfig
    >>> forward_macs(ExperimentConfig(hidden=(8,)), 784, 10)  # an MLP: about P
    6360
    """
    return sum(layer.macs for layer in layer_table(config, input_dim, num_classes))


def activations(config: ExperimentConfig, input_dim: int, num_classes: int) -> int:
    """Numbers all layers output for one example (what a batched product keeps per vector)."""
    return sum(layer.activations for layer in layer_table(config, input_dim, num_classes))


def fast_products(config: ExperimentConfig) -> bool:
    """Whether the hand-written R-operator (:mod:`core.curvature.mlp_rop`) applies: a plain
    MLP (no BatchNorm), any of the configured activations, either loss."""
    return config.architecture == "mlp" and not config.batch_norm


def parameterised_layers(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    """The layers that own parameters (the blocks of block-diagonal approximations)."""
    return [layer for layer in layer_table(config, input_dim, num_classes) if layer.params]
