"""Architectures: one table from a name to a builder; P is read from the built model.

An architecture is its layer table in :mod:`core.shapes` (:data:`core.shapes.SHAPES`), built
here by :func:`build_from_shapes`; a new kind of module also needs its case there. Every builder takes the config, the input
dimension of the dataset actually used and the number of classes, and returns a module whose
parameters are all trainable and are initialised from ``config.seed`` (PyTorch's default
initialisation, drawn from a private generator state so the global RNG is left as found).

* ``mlp``: ``Linear -> act -> ... -> Linear`` as ``nn.Sequential`` named ``fc1, act1, ...``;
  inputs arrive flattened (:mod:`core.data` pools and flattens images). Without BatchNorm that
  keeps it inside what every method supports (BackPACK, the batched R-operator of
  :mod:`core.curvature.mlp_rop`).
* ``cnn``: 3x3 convolutions with 2x2 max pooling, then a linear head, on ``(N, 1, s, s)``
  images (:func:`model_inputs` shapes the flat rows).
* ``resnet``: the ``cnn`` with a :class:`ResidualBlock` after each convolution (``no_skips``:
  the same blocks without the identity skip).
* ``transformer``: pre-LayerNorm attention blocks (:class:`TransformerBlock`) on the image's
  rows as tokens.
* ``batch_norm``: BatchNorm after each hidden linear / convolution (see :mod:`core.shapes`).

The layer list itself lives in :mod:`core.shapes` (torch-free, so sizes are known before
anything is built).

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

from .config import IMAGE_ARCHITECTURES, ExperimentConfig

ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


class ResidualBlock(nn.Module):
    r"""``act2(f(x) + x)`` with ``f`` its other modules in order (``conv1, [bn1,] act1, conv2, [bn2]``);
    without the skip, ``act2(f(x))`` (He et al. 2016, "Deep residual learning", Fig. 2)."""

    def __init__(self, modules: dict[str, nn.Module], skip: bool = True):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
        self.skip = skip

    def forward(self, x):
        *inner, last = self.children()
        h = x
        for module in inner:
            h = module(h)
        return last(h + x) if self.skip else last(h)

    def extra_repr(self) -> str:
        return f"skip={self.skip}"


class PositionalEmbedding(nn.Module):
    """A learned vector added to each token's embedding: ``x + weight`` with ``weight`` ``(T, d)``,
    initialised N(0, 0.02^2) (GPT-2's)."""

    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.weight = nn.Parameter(0.02 * torch.randn(tokens, width))

    def forward(self, x):
        return x + self.weight

    @property
    def label_detail(self) -> str:
        return f"PositionalEmbedding {self.weight.shape[0]}×{self.weight.shape[1]}"


class Attention(nn.Module):
    r"""One head of scaled dot-product attention, :math:`\mathrm{softmax}(qk^	op/\sqrt d)\,v`
    (Vaswani et al. 2017), over the tokens of each example; no parameters (its projections are
    the block's ``query``, ``key``, ``value`` and ``out`` layers)."""

    def forward(self, q, k, v):
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        return scores.softmax(dim=-1) @ v


class TokenMean(nn.Module):
    """The mean over the tokens: ``(N, T, d) -> (N, d)``."""

    def forward(self, x):
        return x.mean(dim=1)


class TransformerBlock(nn.Module):
    r"""A pre-LayerNorm block (Xiong et al. 2020): :math:`x + \mathrm{out}(\mathrm{attn}(q, k, v))`
    with :math:`q, k, v` the projections of ``ln1(x)``, then :math:`x + \mathrm{mlp2}(\mathrm{act}(
    \mathrm{mlp1}(\mathrm{ln2}(x))))`."""

    def __init__(self, modules: dict[str, nn.Module]):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.out(self.attn(self.query(h), self.key(h), self.value(h)))
        return x + self.mlp2(self.act(self.mlp1(self.ln2(x))))


def _module(shape, config: ExperimentConfig) -> nn.Module:
    """The module of one layer-table row."""
    from .shapes import KERNEL, POOL

    if shape.kind == "linear":
        return nn.Linear(shape.inputs, shape.outputs, bias=shape.bias)
    if shape.kind == "conv2d":
        return nn.Conv2d(shape.inputs, shape.outputs, KERNEL, padding=KERNEL // 2, bias=shape.bias)
    if shape.kind == "batchnorm1d":
        return nn.BatchNorm1d(shape.outputs)
    if shape.kind == "batchnorm2d":
        return nn.BatchNorm2d(shape.outputs)
    if shape.kind == "activation":
        return ACTIVATION_MODULES[config.activation]()
    if shape.kind == "maxpool2d":
        return nn.MaxPool2d(POOL)
    if shape.kind == "flatten":
        return nn.Flatten()
    if shape.kind == "layernorm":
        return nn.LayerNorm(shape.outputs)
    if shape.kind == "positional":
        return PositionalEmbedding(shape.params // shape.outputs, shape.outputs)
    if shape.kind == "attention":
        return Attention()
    if shape.kind == "tokenmean":
        return TokenMean()
    raise ValueError(f"no module for layer kind {shape.kind!r}")  # pragma: no cover - written with the table


def build_from_shapes(config: ExperimentConfig, input_dim: int, num_classes: int) -> nn.Sequential:
    """The ``nn.Sequential`` of :func:`core.shapes.layer_table`, initialised from ``config.seed``;
    rows named ``block{i}.<name>`` make one :class:`ResidualBlock` (a transformer's: one
    :class:`TransformerBlock`) ``block{i}``, so parameter names match the table's
    (``block1.conv1.weight``, ``block1.query.weight``).

    BatchNorm starts as PyTorch's (``gamma = 1``, ``beta = 0``, running mean 0 and variance 1).
    """
    from .shapes import layer_table

    table = layer_table(config, input_dim, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        layers: dict[str, nn.Module] = {}
        blocks: dict[str, dict[str, nn.Module]] = {}
        for shape in table:
            if "." in shape.name:
                block, name = shape.name.split(".")
                if block not in blocks:
                    blocks[block] = {}
                    layers[block] = None  # its place in the order
                blocks[block][name] = _module(shape, config)
            else:
                layers[shape.name] = _module(shape, config)
        for block, modules in blocks.items():
            layers[block] = (TransformerBlock(modules) if config.architecture == "transformer"
                             else ResidualBlock(modules, skip=not config.no_skips))
        return nn.Sequential(OrderedDict(layers))


#: architecture name -> builder(config, input_dim, num_classes); both read :mod:`core.shapes`
MODELS: dict[str, Callable[[ExperimentConfig, int, int], nn.Module]] = {"mlp": build_from_shapes,
                                                                        "cnn": build_from_shapes,
                                                                        "resnet": build_from_shapes,
                                                                        "transformer": build_from_shapes}


def model_inputs(config: ExperimentConfig, x: torch.Tensor) -> torch.Tensor:
    """The data's flat rows shaped as the architecture takes them: ``(N, c, s, s)`` images for
    a ``cnn`` or ``resnet`` (c = 3 for CIFAR-10's channel-major rows, else 1), ``(N, s, c s)``
    sequences of rows for a ``transformer``, unchanged for an ``mlp``.

    >>> model_inputs(ExperimentConfig(architecture="cnn"), torch.zeros(2, 64)).shape
    torch.Size([2, 1, 8, 8])
    """
    if config.architecture not in IMAGE_ARCHITECTURES or x.dim() >= 3:
        return x
    from .shapes import image_shape

    channels, side = image_shape(x.shape[1])
    if config.architecture == "transformer":  # a sequence of its rows, each row of every channel
        return x.reshape(len(x), channels, side, side).permute(0, 2, 1, 3).reshape(len(x), side, channels * side)
    return x.reshape(len(x), channels, side, side)


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
