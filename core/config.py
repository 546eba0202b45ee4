"""Experiment configuration: one frozen, hashable, validated value that determines everything.

Every number the tool shows is a function of an :class:`ExperimentConfig` (plus a method's
own options). The config is frozen and hashable so it can key caches and Streamlit state,
and it validates itself on construction: a bad value raises :class:`ConfigError` naming the
field, the value and what is allowed, before any work starts.

**One table of fields.** Each field of :class:`ExperimentConfig` is declared once, with
:func:`option`: its kind, bounds or choices, default, help text, its name in the app's URL and
its CLI flag. Validation (:meth:`Field.check`), the sidebar (``app/sidebar.py``), the URL parser
(``app/url_state.py``), argparse (:mod:`core.cli`) and sweep files (:mod:`core.sweep`) all read
:data:`FIELDS`; adding a field is one line here plus where it is used.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

DATASETS = ("mnist", "fashion-mnist", "cifar10", "digits", "synthetic")
#: the datasets read from files (verified; each falls back to the 8x8 digits, saying so)
FILE_DATASETS = ("mnist", "fashion-mnist", "cifar10")
#: the keys of :data:`core.models.MODELS` (kept here so the config imports no torch)
ARCHITECTURES = ("mlp", "cnn", "resnet", "transformer")
#: the architectures that take images (a cnn's stages each halve the side; a transformer reads rows)
IMAGE_ARCHITECTURES = ("cnn", "resnet", "transformer")
#: most attention blocks of a transformer
MAX_ATTENTION_BLOCKS = 2
#: the keys of :data:`core.losses.LOSSES`
LOSS_NAMES = ("cross_entropy", "mse")
MNIST_INPUT_SIZES = (28, 14, 7)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus")
OPTIMIZERS = ("adam", "sgd", "gd")
DEVICES = ("cpu", "cuda", "auto")

#: Native side length of each dataset's images (synthetic data is a flat vector).
NATIVE_SIZE = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32, "digits": 8}
#: colour channels of each image dataset (the others have one)
CHANNELS = {"cifar10": 3}
NUM_CLASSES = 10
#: most convolution blocks a ``cnn`` may have (each halves the image side)
MAX_CONV_LAYERS = 3
#: most channels of one convolution (the exact spectrum is the point: P stays small)
MAX_CHANNELS = 256
#: widest hidden layer of an MLP
MAX_WIDTH = 4096
#: environment variables that set a field's default
DEVICE_ENV, THREADS_ENV = "HESSIAN_DEVICE", "HESSIAN_THREADS"


class ConfigError(ValueError):
    """A configuration value is not allowed. The message names field, value and what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field_name = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={value!r} is not allowed: {allowed}")


def parse_hidden(text: str) -> tuple[int, ...]:
    """Parse ``"8"`` or ``"16,8"`` into a widths tuple, with a clear error.

    >>> parse_hidden("16, 8")
    (16, 8)
    """
    try:
        widths = tuple(int(part) for part in str(text).replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError("hidden", text, "comma-separated positive integers, e.g. 16 or 16,8") from None
    if not widths:
        raise ConfigError("hidden", text, "comma-separated positive integers, e.g. 16 or 16,8")
    return widths


def _default_threads() -> int:
    """``$HESSIAN_THREADS``, else the processors this process may use (what torch would take)."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"${THREADS_ENV}", text, "a whole number of threads from 1 to 256") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Field:
    """One configuration field: everything validation, the sidebar, the URL and the CLI need.

    Attributes:
        name: the attribute of :class:`ExperimentConfig`; ``kind``: ``choice``, ``int``,
            ``float`` (in ``(low, high]``), ``bool`` or ``widths`` (a tuple of ints in ``[low, high]``).
        label, help: what people read in the sidebar and ``--help``.
        choices, low, high: what is allowed; ``choice_labels``: how choices read in the app.
        url: its URL parameter (None: not in the URL); ``flag``: its CLI flag (default
            ``--name-with-dashes``).
        section: where the sidebar draws it (``experiment``, ``training``; None: not drawn).
    """

    name: str
    kind: str
    label: str
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    choice_labels: dict | None = None
    url: str | None = None
    flag: str | None = None
    section: str | None = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices))
        if self.kind == "bool":
            return "true or false"
        if self.kind == "float":
            return f"a number in ({self.low}, {self.high}]"
        if self.kind == "widths":
            return f"a non-empty tuple of widths (depth >= 1), each an integer from {self.low} to {self.high}"
        return f"an integer from {self.low} to {self.high}"

    def check(self, value: Any) -> None:
        """Raise :class:`ConfigError` unless ``value`` is allowed."""
        whole = lambda v: isinstance(v, int) and not isinstance(v, bool)
        ok = {
            "choice": lambda v: v in self.choices and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "int": lambda v: whole(v) and self.low <= v <= self.high,
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and self.low < v <= self.high,
            "widths": lambda v: isinstance(v, tuple) and len(v) > 0 and all(whole(w) and self.low <= w <= self.high
                                                                            for w in v),
        }[self.kind]
        if not ok(value):
            raise ConfigError(self.name, value, self.allowed)

    def convert(self, text: str) -> Any:
        """The value a text stands for, of this field's kind but not yet checked against its
        bounds (ValueError when it is no such value)."""
        text = str(text).strip()
        if self.kind == "widths":
            try:
                return parse_hidden(text)
            except ConfigError:
                raise ValueError(text) from None
        if self.kind == "bool":
            if text.lower() not in ("1", "0", "true", "false"):
                raise ValueError(text)
            return text.lower() in ("1", "true")
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            return float(text)
        return next((c for c in self.choices if str(c) == text), text)

    def parse(self, text: str, name: str | None = None) -> Any:
        """The value a text (a URL parameter, a CLI argument, a sweep cell) stands for, checked;
        otherwise :class:`ConfigError` naming ``name`` (default: the field).

        >>> FIELDS["hidden"].parse("16, 8"), FIELDS["lr"].parse("0.5"), FIELDS["input_size"].parse("14")
        ((16, 8), 0.5, 14)
        """
        try:
            value = self.convert(text)
            self.check(value)
        except (ValueError, ConfigError):
            raise ConfigError(name or self.name, str(text).strip(), self.allowed) from None
        return value

    def format(self, value: Any) -> str:
        """The text :meth:`parse` reads back as ``value``."""
        if self.kind == "widths":
            return ",".join(map(str, value))
        if self.kind == "bool":
            return "1" if value else "0"
        return repr(value) if self.kind == "float" else str(value)


def option(default: Any = dataclasses.MISSING, *, kind: str | None = None, default_factory=None, **facts):
    """A dataclass field of :class:`ExperimentConfig` that carries its :class:`Field` facts (the
    kind follows from the default unless given: choices make a ``choice``)."""
    if kind is None:
        kind = "choice" if "choices" in facts else {bool: "bool", int: "int", float: "float", tuple: "widths"}[
            type(default)]
    metadata = {"facts": (kind, facts)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train and which batch's Hessian to study; every field is one line with its facts.

    ``architecture``: ``"mlp"`` (``hidden`` are the widths of its hidden layers), ``"cnn"`` (a
    LeNet-style net: ``hidden`` are the channel counts of its 3x3 convolutions, each followed by
    2x2 max pooling, then one linear head; images only) or ``"resnet"`` (the cnn with a residual
    block, two 3x3 convolutions around an identity skip, after each convolution; ``no_skips``
    removes the skips and keeps every layer: He et al. 2016's plain counterpart) or
    ``"transformer"`` (``hidden`` = (d,) or (d, d): pre-LayerNorm attention blocks of width d, one
    head, on the image's rows as tokens). ``loss``: cross-entropy or squared error
    against one-hot targets (PyTorch's mean over the N x C entries); always a mean over the
    batch. ``batch_norm``: BatchNorm after every hidden linear / convolution, before the
    activation (that layer then has no bias: BatchNorm's shift replaces it); the Hessian is that
    of the network in eval mode (running statistics), a fixed function of the parameters.
    ``optimizer="gd"`` is full-batch gradient descent with a fixed step (one step per epoch over
    the whole training subset, no momentum): the edge of stability's setting (Cohen et al.
    2021). ``checkpoints``: parameter snapshots kept (log-spaced in steps, the first at step 0
    and the last at the end). ``device="auto"`` is resolved on construction, so the stored value
    (and the cache key) is the device used; so is the thread count.
    """

    dataset: str = option("mnist", choices=DATASETS, label="dataset", url="dataset", section="experiment",
                          choice_labels={"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                                         "digits": "8x8 digits (bundled)", "synthetic": "synthetic mixture"},
                          help="mnist, fashion-mnist and cifar10 are read from verified files (python -m core data "
                               "download --dataset ... fetches them) and fall back to scikit-learn's 8x8 digits, "
                               "saying so; digits: scikit-learn's bundled 8x8 digits; synthetic: a seeded Gaussian "
                               "mixture")
    input_size: int = option(28, choices=MNIST_INPUT_SIZES, label="input size (pixels a side)", url="input_size",
                             section="experiment",
                             help="side length after average pooling of MNIST and Fashion-MNIST (28, 14, 7); CIFAR-10 "
                                  "is pooled by the same factor (32, 16, 8); fewer pixels, fewer first-layer "
                                  "parameters")
    architecture: str = option("mlp", choices=ARCHITECTURES, label="architecture", url="arch", section="experiment",
                               choice_labels={"mlp": "MLP (fully connected)", "cnn": "CNN (LeNet-style)",
                                              "resnet": "residual CNN", "transformer": "transformer (rows as tokens)"},
                               help="mlp; cnn: 3x3 convolutions (padding 1) each followed by 2x2 max pooling, then "
                                    "one linear head; resnet: the cnn with a residual block (conv-[BN]-act-conv-[BN], "
                                    "identity skip, act) after each convolution; transformer: one or two pre-LayerNorm attention "
                                    "blocks of width hidden on the image's rows as tokens; all but mlp take images only")
    hidden: tuple[int, ...] = option((8,), low=1, high=MAX_WIDTH, label="hidden widths (comma separated)", url="hidden",
                                     section="experiment",
                                     help="hidden widths (mlp) or channel counts (cnn), comma separated, e.g. 16,8")
    activation: str = option("relu", choices=ACTIVATIONS, label="activation", url="activation", section="experiment",
                             help="hidden activation")
    batch_norm: bool = option(False, label="BatchNorm", url="bn", section="experiment",
                              help="BatchNorm after every hidden linear / convolution; the Hessian is taken in eval "
                                   "mode (running statistics), so the loss is a fixed function of the parameters")
    no_skips: bool = option(False, label="remove the skip connections", url="no_skips", section="experiment",
                            help="resnet only: the same layers without the identity skips (the plain network of "
                                 "the same depth and P)")
    loss: str = option("cross_entropy", choices=LOSS_NAMES, label="loss", url="loss", section="experiment",
                       choice_labels={"cross_entropy": "cross-entropy", "mse": "MSE (squared error)"},
                       help="cross_entropy, or mse: squared error on one-hot targets, mean over the N x C entries "
                            "(the GGN's output Hessian is then 2I/(NC))")
    num_classes: int = option(NUM_CLASSES, low=2, high=NUM_CLASSES, label="classes C", url="C", flag="--classes",
                              section="experiment",
                              help="C: train and study the first C classes only (labels 0 to C-1); the head has C "
                                   "outputs")
    hessian_batch_size: int = option(1000, low=1, high=60_000, label="Hessian batch size N", url="N",
                                     flag="--hessian-batch", section="experiment",
                                     help="N, the size of the fixed training batch whose mean-loss Hessian is studied")
    epochs: int = option(10, low=0, high=1000, label="training epochs", url="epochs", section="experiment",
                         help="training epochs; with the gd optimizer, one full-batch step per epoch")
    seed: int = option(0, low=0, high=2**31 - 1, label="seed", url="seed", section="experiment",
                       help="seeds data order, initialisation, training and the Hessian batch")
    device: str = option(kind="choice", default_factory=lambda: os.environ.get(DEVICE_ENV, "cpu"), choices=DEVICES,
                         label="device", url="device", section="experiment",
                         help="where to compute; auto: the GPU when there is one; results (and cache entries) are "
                              "per device (default: $HESSIAN_DEVICE or cpu)")
    optimizer: str = option("adam", choices=OPTIMIZERS, label="optimizer", url="optimizer", section="training",
                            help="gd: full-batch gradient descent with a fixed step (edge of stability)")
    lr: float = option(3e-3, low=0.0, high=10.0, label="learning rate", url="lr", section="training",
                       help="the optimizer's learning rate")
    train_batch_size: int = option(64, low=1, high=100_000, label="training mini-batch",
                                   help="mini-batch size for training")
    train_subset: int = option(10_000, low=10, high=60_000, label="training examples",
                               help="training examples used (at most what the dataset holds)")
    synthetic_dim: int = option(8, low=1, high=1024, label="synthetic input dimension",
                                help="input dimension of the synthetic task")
    checkpoints: int = option(0, low=0, high=200, label="checkpoints kept", url="checkpoints", section="training",
                              help="parameter snapshots kept during training, log-spaced in steps; the Training page "
                                   "follows them")
    checkpoint: int = option(-1, low=-1, high=199, label="studied at checkpoint", url="checkpoint", section="training",
                             help="the snapshot whose Hessian is studied, -1 for the final parameters")
    threads: int = option(kind="int", default_factory=_default_threads, low=1, high=256, label="threads",
                          help="torch threads for training and every method; results can differ in the last bits "
                               "with the thread count, so it is part of every cache key (default: $HESSIAN_THREADS "
                               "or the processors available)")

    def __post_init__(self):
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        for f in FIELDS.values():
            f.check(getattr(self, f.name))
        if self.architecture == "transformer":
            self._check_transformer()
        elif self.architecture in IMAGE_ARCHITECTURES:
            self._check_cnn()
        if self.no_skips and self.architecture != "resnet":
            raise ConfigError("no_skips", True, f"false unless architecture='resnet' (a {self.architecture} has no "
                              "skip connections)")
        if self.checkpoints and self.epochs == 0:
            raise ConfigError("checkpoints", self.checkpoints, "0 when epochs=0 (nothing is trained)")
        if not -1 <= self.checkpoint <= self.checkpoints - 1:
            raise ConfigError("checkpoint", self.checkpoint, f"an integer from -1 to {max(self.checkpoints - 1, -1)}")
        from .device import cuda_available, resolve

        if self.device != "cpu":
            object.__setattr__(self, "device", resolve(self.device))
            if self.device == "cuda" and not cuda_available():
                raise ConfigError("device", "cuda", "'cpu' or 'auto': no CUDA device is visible here")

    def _check_transformer(self) -> None:
        """Images (their rows are the tokens), one width for the residual stream, one or two blocks."""
        if self.dataset == "synthetic":
            raise ConfigError("architecture", "transformer", "'mlp' with dataset='synthetic' (a transformer here "
                              "reads an image's rows as tokens: dataset 'mnist' or 'digits')")
        if len(self.hidden) > MAX_ATTENTION_BLOCKS or len(set(self.hidden)) != 1 or self.hidden[0] > MAX_CHANNELS:
            raise ConfigError("hidden", self.hidden, f"one width d from 1 to {MAX_CHANNELS} per attention block, at "
                              f"most {MAX_ATTENTION_BLOCKS} and all equal (the residual stream), e.g. 16 or 16,16")
        if self.batch_norm:
            raise ConfigError("batch_norm", True, "false for a transformer (its blocks have LayerNorm)")

    def _check_cnn(self) -> None:
        """A CNN needs images, and every convolution block halves the side: it must stay >= 1."""
        kind = self.architecture
        if self.dataset == "synthetic":
            raise ConfigError("architecture", kind, f"'mlp' with dataset='synthetic' (a {kind} needs images: "
                              "dataset 'mnist' or 'digits')")
        if len(self.hidden) > MAX_CONV_LAYERS:
            raise ConfigError("hidden", self.hidden, f"at most {MAX_CONV_LAYERS} channel counts for a {kind} "
                              "(one per 3x3 convolution + 2x2 pooling block)")
        if max(self.hidden) > MAX_CHANNELS:
            raise ConfigError("hidden", self.hidden, f"every channel count of a {kind} from 1 to {MAX_CHANNELS}")
        # MNIST may fall back to the 8x8 digits, so both sides must survive the pooling
        sides = [self.image_side(), NATIVE_SIZE["digits"]] if self.dataset in FILE_DATASETS else [NATIVE_SIZE["digits"]]
        for side in sides:
            if side >> len(self.hidden) < 1:
                raise ConfigError("hidden", self.hidden, f"at most {side.bit_length() - 1} convolution blocks "
                                  f"on {side}x{side} images (each 2x2 pooling halves the side)")

    # ------------------------------------------------------------------ derived
    def input_dim(self, dataset_used: str | None = None) -> int:
        """Input dimension of the network for the dataset actually used.

        >>> ExperimentConfig(input_size=14).input_dim()
        196
        >>> ExperimentConfig().input_dim("digits")
        64
        """
        name = dataset_used or self.dataset
        if name == "synthetic":
            return self.synthetic_dim
        if name == "digits":
            return NATIVE_SIZE["digits"] ** 2
        dataset = "cifar10" if name.startswith("cifar10") else "mnist"
        return CHANNELS.get(dataset, 1) * self.image_side(dataset) ** 2

    def image_side(self, dataset: str | None = None) -> int:
        """The side of a file dataset's images after pooling: ``input_size`` for MNIST and
        Fashion-MNIST, CIFAR-10's 32 pooled by the same factor (28 / input_size).

        >>> ExperimentConfig(input_size=14).image_side(), ExperimentConfig(input_size=7).image_side("cifar10")
        (14, 8)
        """
        dataset = dataset or self.dataset
        return NATIVE_SIZE[dataset] // (NATIVE_SIZE["mnist"] // self.input_size) if dataset == "cifar10" else \
            self.input_size

    def steps_per_epoch(self, examples: int) -> int:
        """Optimizer steps in one epoch over ``examples``: one for full-batch ``gd``; else one per
        mini-batch, a last one of a single example skipped with BatchNorm (its batch statistics
        need two).

        >>> ExperimentConfig(train_batch_size=64).steps_per_epoch(129), ExperimentConfig(
        ...     train_batch_size=64, batch_norm=True).steps_per_epoch(129)
        (3, 2)
        """
        if self.optimizer == "gd":
            return 1
        smallest = 2 if self.batch_norm else 1
        return examples // self.train_batch_size + (1 if examples % self.train_batch_size >= smallest else 0)

    def training_key(self) -> "ExperimentConfig":
        """What training depends on: the same configuration with the final parameters studied and
        a Hessian batch of one (neither changes the training, so changing them retrains nothing)."""
        return dataclasses.replace(self, checkpoint=-1, hessian_batch_size=1)

    def replace(self, **changes) -> "ExperimentConfig":
        """A validated copy with some fields changed.

        >>> ExperimentConfig().replace(hidden=(4,)).hidden
        (4,)
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able fields (``hidden`` as a list); :meth:`from_dict` reverses it."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentConfig":
        """Build from :meth:`to_dict`'s output; an unknown key is a :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(sorted(unknown)[0], data[sorted(unknown)[0]],
                              "a field of ExperimentConfig: " + ", ".join(sorted(known)))
        data = dict(data)
        if "hidden" in data:
            data["hidden"] = tuple(data["hidden"])
        return cls(**data)

    def label(self) -> str:
        """Short human-readable description.

        >>> ExperimentConfig().label()
        'mnist 28px mlp[8] relu N=1000 seed=0'
        >>> ExperimentConfig(architecture="cnn", batch_norm=True, loss="mse", num_classes=5).label()
        'mnist 28px cnn[8]+BN relu mse C=5 N=1000 seed=0'
        """
        size = f" {self.image_side()}px" if self.dataset in FILE_DATASETS else ""
        widths = "x".join(map(str, self.hidden))
        shape = f"{self.architecture}[{widths}]" + ("-noskip" if self.no_skips else "") + ("+BN" if self.batch_norm else "")
        extra = (" mse" if self.loss == "mse" else "") + (f" C={self.num_classes}" if self.num_classes != NUM_CLASSES else "")
        return f"{self.dataset}{size} {shape} {self.activation}{extra} N={self.hessian_batch_size} seed={self.seed}"


#: every configuration field's facts, by name, in the order the sidebar and ``--help`` list them
FIELDS: dict[str, Field] = {
    f.name: Field(f.name, f.metadata["facts"][0], **f.metadata["facts"][1]) for f in dataclasses.fields(ExperimentConfig)
}
