"""The layers of each architecture as plain numbers: names, parameter counts, forward cost.

Torch-free, so the size of a problem (P, and the multiply-adds of one forward pass that set
the cost of a curvature-vector product) is known before anything is imported, built or
trained; :mod:`core.models` builds the modules from the same table and a test checks that
the counts agree with the built model.

* ``mlp``: ``fc1 [-> bn1] -> act1 -> ... -> fc{L+1}`` on flattened inputs.
* ``cnn`` (LeNet-style, LeCun et al. 1998): per channel count ``c_i``,
  ``conv{i}`` (3x3, stride 1, padding 1, side kept) ``[-> bn{i}] -> act{i} -> pool{i}``
  (2x2 max pooling, side halved, rounded down), then ``flatten -> fc`` to the C classes.

* ``resnet`` (He et al. 2016): the ``cnn`` with a residual block after each ``act{i}``:
  ``block{i}.conv1 [-> block{i}.bn1] -> block{i}.act1 -> block{i}.conv2 [-> block{i}.bn2]``,
  plus the block's input (an identity skip; none with ``no_skips``), ``-> block{i}.act2``, then
  ``pool{i}``. The skip has no parameters: P is the same with and without it.

* ``transformer`` (pre-LayerNorm, Xiong et al. 2020; one attention head): an image of side s is
  a sequence of s tokens (its rows) of s features; ``embed`` (Linear s -> d per token) plus a
  learned ``pos`` embedding, then per entry of ``hidden`` (all equal to d, one or two) a block
  ``block{i}``: ``x + out(attn(query(ln1 x), key(ln1 x), value(ln1 x)))``, then
  ``x + mlp2(act(mlp1(ln2 x)))`` (width 2d); then ``ln`` and the mean over tokens (``pool``)
  into ``fc``. Every parameter kind Zhang et al. (2024) compare (query, key, value, output,
  MLP, LayerNorm) is its own module, so its Hessian block is one layer.

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
from dataclasses import dataclass, replace

from .config import ExperimentConfig

KERNEL = 3
POOL = 2
#: the generic products batch with ``vmap`` while one vector's activations over the batch
#: (N x activations per example, in floats) stay under this; above it reverse-over-reverse
#: products one vector at a time are faster (measured: 4M floats, CNN on 14x14 MNIST: 16 ms a
#: vector against 30-40 ms with vmap; 70k floats, CNN on 8x8 digits: 0.34 ms against 1.1 ms)
VMAP_MAX_FLOATS = 2**20


def product_path(fast: bool, batch_size: int, activations: int) -> str:
    """How curvature products are taken: ``fast`` (the MLP R-operator of
    :mod:`core.curvature.mlp_rop`), ``batched`` (``vmap(jvp(grad))``) or ``single`` (a kept
    gradient graph, one vector at a time).

    >>> product_path(False, 1000, 3932), product_path(False, 100, 700), product_path(True, 1000, 28)
    ('single', 'batched', 'fast')
    """
    if fast:
        return "fast"
    return "batched" if batch_size * activations <= VMAP_MAX_FLOATS else "single"


@dataclass(frozen=True)
class Size:
    """What the budget needs to know about a problem before any work: P, the batch size N, the
    parameterised layers, the multiply-adds of one example's forward pass (``None``: about P, a
    plain MLP) and how curvature products are taken (:func:`product_path`). The pipeline makes
    one from the layer table (:func:`size`), a :class:`~core.problem.Problem` from its model.

    >>> Size(6370, 1000).forward_macs, Size(6370, 1000).scaled(100).forward_macs
    (6370, 100)
    """

    num_params: int
    batch_size: int
    num_layers: int = 2
    macs: float | None = None
    path: str = "fast"
    #: one curvature product's seconds as timed on this problem (a model of the caller's own,
    #: :func:`core.own_model.problem`); the cost model takes the larger of it and its own rule
    measured_product_seconds: float | None = None
    #: exact zero eigenvalues known before any product: the first layer's weights on inputs that
    #: are constant over the batch (:mod:`core.curvature.reduction`), which a dense build and
    #: eigensolve skip (they see :attr:`solved_params` rows)
    known_null: int = 0
    #: rows of that reduced matrix known to be zero: the parameters of units off on the whole
    #: Hessian batch (:attr:`core.problem.Problem.off_parameters`), known once the model is trained
    known_off: int = 0
    #: the head's parameters, whose block of a dense build is written in closed form, without
    #: products (:mod:`core.curvature.head`): the build's products are for the other columns
    head_params: int = 0

    @property
    def built_columns(self) -> int:
        """The columns of a dense build that take products: :attr:`solved_params` less the head's
        (the head's rows of units off on the batch are in both :attr:`known_off` and
        :attr:`head_params`, so this can undercount by those; they are few)."""
        return max(0, self.solved_params - self.head_params)

    @property
    def solved_params(self) -> int:
        """P' = P minus the known null space and the known zero rows: the products a dense build
        takes and the rows its eigensolve sees."""
        return self.num_params - self.known_null - self.known_off

    @property
    def forward_macs(self) -> float:
        return self.num_params if self.macs is None else self.macs

    def scaled(self, num_params: int) -> "Size":
        """A network of the same depth and product path with ``num_params`` parameters, its
        forward cost scaled in proportion (what "the largest P admitted" varies)."""
        ratio = num_params / self.num_params
        macs = None if self.macs is None else self.macs * ratio
        measured = None if self.measured_product_seconds is None else self.measured_product_seconds * ratio
        return replace(self, num_params=num_params, macs=macs, measured_product_seconds=measured,
                       known_null=round(self.known_null * ratio), known_off=round(self.known_off * ratio),
                       head_params=round(self.head_params * ratio))


def module_macs(kind: str, outputs: int, inputs: int = 0, kernel: int = KERNEL) -> int:
    """Multiply-adds of one module's forward pass for one example, from what it outputs: a
    linear layer ``inputs x outputs`` (``outputs`` its features), a convolution ``outputs x
    inputs x kernel^2`` (``outputs`` its output numbers, ``inputs`` its input channels), BatchNorm
    two an output, max pooling ``kernel^2`` an output, a flatten none, anything else one an output.

    >>> module_macs("linear", 8, 784), module_macs("conv2d", 4 * 8 * 8, 1), module_macs("maxpool2d", 16, kernel=2)
    (6272, 2304, 64)
    """
    if kind == "linear":
        return inputs * outputs
    if kind == "conv2d":
        return outputs * inputs * kernel * kernel
    if kind.startswith("batchnorm"):
        return 2 * outputs
    if kind == "maxpool2d":
        return outputs * kernel * kernel
    if kind == "flatten":
        return 0
    if kind == "attention":  # softmax(q k^T / sqrt(d)) v over ``inputs`` tokens: 2 T^2 d for T d outputs
        return 2 * outputs * inputs
    return outputs


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
        if self.kind == "layernorm":
            return f"{self.name} (LayerNorm {self.outputs})"
        if self.kind == "positional":
            return f"{self.name} (PositionalEmbedding {self.params // self.outputs}×{self.outputs})"
        return self.name


def _mlp(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    layers, fan_in = [], input_dim
    for i, width in enumerate(config.hidden, start=1):
        bias = not config.batch_norm
        layers.append(LayerShape(f"fc{i}", "linear", fan_in * width + width * bias, module_macs("linear", width, fan_in),
                                 fan_in, width, bias, activations=width))
        if config.batch_norm:
            layers.append(LayerShape(f"bn{i}", "batchnorm1d", 2 * width, module_macs("batchnorm1d", width), width, width,
                                     activations=width))
        layers.append(LayerShape(f"act{i}", "activation", 0, module_macs("activation", width), activations=width))
        fan_in = width
    n = len(config.hidden) + 1
    layers.append(LayerShape(f"fc{n}", "linear", fan_in * num_classes + num_classes,
                             module_macs("linear", num_classes, fan_in), fan_in, num_classes, activations=num_classes))
    return layers


def image_shape(input_dim: int) -> tuple[int, int]:
    """``(channels, side)`` of flattened images with ``input_dim`` numbers: grey images have a
    square count (s^2), colour ones (CIFAR-10, channel-major) 3 s^2, which never is one.

    >>> image_shape(64), image_shape(3 * 16 * 16)
    ((1, 8), (3, 16))
    """
    side = math.isqrt(input_dim)
    if side * side == input_dim:
        return 1, side
    side = math.isqrt(input_dim // 3)
    if 3 * side * side == input_dim:
        return 3, side
    raise ValueError(f"{input_dim} inputs are neither a square grey image nor a square colour one")


def _conv_layers(config: ExperimentConfig, name: str, bn: str, act: str, channels: int, out: int,
                 side: int) -> list[LayerShape]:
    """A 3x3 convolution ``name`` (channels -> out, side kept), its BatchNorm ``bn`` when
    configured, and the activation ``act`` (None: none)."""
    bias = not config.batch_norm
    pixels = out * side * side
    layers = [LayerShape(name, "conv2d", channels * out * KERNEL * KERNEL + out * bias,
                         module_macs("conv2d", pixels, channels), channels, out, bias, side, pixels)]
    if config.batch_norm:
        layers.append(LayerShape(bn, "batchnorm2d", 2 * out, module_macs("batchnorm2d", pixels), out, out,
                                 side=side, activations=pixels))
    if act is not None:
        layers.append(LayerShape(act, "activation", 0, module_macs("activation", pixels), side=side,
                                 activations=pixels))
    return layers


def _cnn(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    channels, side = image_shape(input_dim)
    layers = []
    for i, out in enumerate(config.hidden, start=1):
        layers += _conv_layers(config, f"conv{i}", f"bn{i}", f"act{i}", channels, out, side)
        if config.architecture == "resnet":
            block = f"block{i}"
            layers += _conv_layers(config, f"{block}.conv1", f"{block}.bn1", f"{block}.act1", out, out, side)
            layers += _conv_layers(config, f"{block}.conv2", f"{block}.bn2", None, out, out, side)
            pixels = out * side * side  # after the skip's addition (not counted: no module does it)
            layers.append(LayerShape(f"{block}.act2", "activation", 0, module_macs("activation", pixels),
                                     side=side, activations=pixels))
        side //= POOL
        if side < 1:
            first = image_shape(input_dim)[1]
            raise ValueError(f"{len(config.hidden)} pooling blocks leave no pixel of {first}x{first} images")
        layers.append(LayerShape(f"pool{i}", "maxpool2d", 0, module_macs("maxpool2d", out * side * side, kernel=POOL),
                                 side=side, activations=out * side * side))
        channels = out
    features = channels * side * side
    layers.append(LayerShape("flatten", "flatten", 0, 0, activations=features))
    layers.append(LayerShape("fc", "linear", features * num_classes + num_classes,
                             module_macs("linear", num_classes, features), features, num_classes, activations=num_classes))
    return layers


def _transformer(config: ExperimentConfig, input_dim: int, num_classes: int) -> list[LayerShape]:
    channels, side = image_shape(input_dim)
    tokens, d = side, config.hidden[0]  # a token: one row of every channel
    per_token = lambda n: n * tokens  # numbers a per-token layer outputs for one example

    def linear(name: str, inputs: int, outputs: int) -> LayerShape:
        return LayerShape(name, "linear", inputs * outputs + outputs, module_macs("linear", per_token(outputs), inputs),
                          inputs, outputs, activations=per_token(outputs))

    def layer_norm(name: str) -> LayerShape:
        return LayerShape(name, "layernorm", 2 * d, module_macs("layernorm", per_token(d)), d, d,
                          activations=per_token(d))

    layers = [linear("embed", channels * side, d),
              LayerShape("pos", "positional", tokens * d, module_macs("positional", per_token(d)), d, d,
                         activations=per_token(d))]
    for i in range(1, len(config.hidden) + 1):
        block = f"block{i}"
        layers += [layer_norm(f"{block}.ln1"), linear(f"{block}.query", d, d), linear(f"{block}.key", d, d),
                   linear(f"{block}.value", d, d),
                   LayerShape(f"{block}.attn", "attention", 0, module_macs("attention", per_token(d), tokens),
                              activations=per_token(d)),
                   linear(f"{block}.out", d, d), layer_norm(f"{block}.ln2"), linear(f"{block}.mlp1", d, 2 * d),
                   LayerShape(f"{block}.act", "activation", 0, module_macs("activation", per_token(2 * d)),
                              activations=per_token(2 * d)),
                   linear(f"{block}.mlp2", 2 * d, d)]
    layers += [layer_norm("ln"), LayerShape("pool", "tokenmean", 0, module_macs("tokenmean", d), activations=d),
               LayerShape("fc", "linear", d * num_classes + num_classes, module_macs("linear", num_classes, d), d,
                          num_classes, activations=num_classes)]
    return layers


#: architecture -> (config, input_dim, num_classes) -> its layers in forward order
SHAPES = {"mlp": _mlp, "cnn": _cnn, "resnet": _cnn, "transformer": _transformer}


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


def head_params(table: list[LayerShape]) -> int:
    """The parameters of the table's linear head, the last of several parameterised layers (every
    configured architecture ends in one), whose dense block :mod:`core.curvature.head` writes in
    closed form; the rule :attr:`core.problem.Problem.head_params` follows on the model itself."""
    layers = [layer for layer in table if layer.params]
    return layers[-1].params if len(layers) >= 2 and layers[-1].kind == "linear" and layers[-1] is table[-1] else 0


def size(config: ExperimentConfig, input_dim: int, num_classes: int, constant_inputs: int = 0,
         off_rows: int = 0) -> Size:
    """The :class:`Size` of the configured problem, from its layer table, the number of input
    features constant over the Hessian batch (``constant_inputs``; they make a known null space
    when the first layer is a linear layer with a bias on flat inputs, :mod:`core.curvature.reduction`)
    and the zero rows of units off on the batch (``off_rows``, from the trained model).

    >>> size(ExperimentConfig(hidden=(8,)), 784, 10, constant_inputs=181)
    Size(num_params=6370, batch_size=1000, num_layers=2, macs=6360, path='fast', measured_product_seconds=None, known_null=1448, known_off=0, head_params=90)
    """
    table = layer_table(config, input_dim, num_classes)
    path = product_path(fast_products(config), config.hessian_batch_size, sum(layer.activations for layer in table))
    first = table[0]
    flat_linear = config.architecture == "mlp" and first.kind == "linear" and first.bias
    return Size(sum(layer.params for layer in table), config.hessian_batch_size,
                sum(1 for layer in table if layer.params), sum(layer.macs for layer in table), path,
                known_null=first.outputs * constant_inputs if flat_linear else 0, known_off=off_rows,
                head_params=head_params(table))
