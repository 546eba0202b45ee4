"""Experiment configuration: one frozen, hashable, validated value that determines everything.

Every number the tool shows is a function of an :class:`ExperimentConfig` (plus a method's
own options). The config is frozen and hashable so it can key caches and Streamlit state,
and it validates itself on construction: a bad value raises :class:`ConfigError` naming the
field, the value and what is allowed, before any work starts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

DATASETS = ("mnist", "digits", "synthetic")
#: the keys of :data:`core.models.MODELS` (kept here so the config imports no torch)
ARCHITECTURES = ("mlp", "cnn")
#: the keys of :data:`core.losses.LOSSES`
LOSS_NAMES = ("cross_entropy", "mse")
MNIST_INPUT_SIZES = (28, 14, 7)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus")
OPTIMIZERS = ("adam", "sgd", "gd")

#: Native side length of each dataset's images (synthetic data is a flat vector).
NATIVE_SIZE = {"mnist": 28, "digits": 8}
NUM_CLASSES = 10
#: most convolution blocks a ``cnn`` may have (each halves the image side)
MAX_CONV_LAYERS = 3
#: most channels of one convolution (the exact spectrum is the point: P stays small)
MAX_CHANNELS = 256


class ConfigError(ValueError):
    """A configuration value is not allowed. The message names field, value and what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field_name = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={value!r} is not allowed: {allowed}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(name, value, f"an integer from {low} to {high}")


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise ConfigError(name, value, f"a number in ({low}, {high}]")


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(name, value, "one of " + ", ".join(map(repr, choices)))


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train and which batch's Hessian to study.

    Attributes:
        architecture: a key of :data:`core.models.MODELS`: ``"mlp"`` (``hidden`` are the
            widths of its hidden layers) or ``"cnn"`` (a LeNet-style net: ``hidden`` are the
            channel counts of its 3x3 convolutions, each followed by 2x2 max pooling, then one
            linear head; images only).
        loss: a key of :data:`core.losses.LOSSES`: ``"cross_entropy"`` or ``"mse"`` (squared
            error against one-hot targets, PyTorch's mean over the N x C entries); always a
            mean over the batch.
        batch_norm: a BatchNorm layer after every hidden linear / convolution (before the
            activation; that layer then has no bias of its own, as BatchNorm's shift replaces
            it). The Hessian is that of the network in eval mode: BatchNorm uses its running
            statistics, so the loss is a fixed function of the parameters.
        num_classes: C, train and study on the first C classes (labels 0..C-1) only; the
            head has C outputs.
        dataset: ``"mnist"`` (torchvision; falls back to scikit-learn's 8x8 digits when MNIST
            cannot be had), ``"digits"`` (scikit-learn's bundled 8x8 digits) or
            ``"synthetic"`` (a seeded Gaussian mixture, for fast tests).
        input_size: MNIST side length after average pooling: 28, 14 or 7. Ignored for the
            other datasets. Smaller inputs mean fewer first-layer parameters.
        hidden: hidden layer widths, at least one layer.
        activation: hidden activation.
        epochs, optimizer, lr, train_batch_size, train_subset: the training schedule.
            ``optimizer="gd"`` is full-batch gradient descent with a fixed step (one step per
            epoch over the whole training subset, no momentum): the setting of the edge of
            stability (Cohen et al. 2021).
        checkpoints: how many parameter snapshots training keeps (log-spaced in steps, the
            first at step 0 and the last at the end); 0 keeps only the final parameters.
        checkpoint: the snapshot whose Hessian is studied (``-1``: the final parameters).
        hessian_batch_size: N, the size of the fixed training batch whose loss Hessian
            (of the *mean* cross-entropy) is studied.
        seed: seeds data order, initialisation, training and the Hessian batch.
        device: ``cpu``, ``cuda`` or ``auto`` (default ``$HESSIAN_DEVICE`` or ``cpu``); ``auto``
            is resolved on construction, so the stored value (and the cache key) is the device
            used.
        synthetic_dim: input dimension of the synthetic task.
    """

    architecture: str = "mlp"
    loss: str = "cross_entropy"
    batch_norm: bool = False
    num_classes: int = NUM_CLASSES
    dataset: str = "mnist"
    input_size: int = 28
    hidden: tuple[int, ...] = (8,)
    activation: str = "relu"
    epochs: int = 10
    optimizer: str = "adam"
    lr: float = 3e-3
    train_batch_size: int = 64
    train_subset: int = 10_000
    hessian_batch_size: int = 1000
    seed: int = 0
    synthetic_dim: int = 8
    checkpoints: int = 0
    checkpoint: int = -1
    device: str = field(default_factory=lambda: os.environ.get("HESSIAN_DEVICE", "cpu"))

    def __post_init__(self):
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        _check_choice("loss", self.loss, LOSS_NAMES)
        if not isinstance(self.batch_norm, bool):
            raise ConfigError("batch_norm", self.batch_norm, "true or false")
        _check_int("num_classes", self.num_classes, 2, NUM_CLASSES)
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("input_size", self.input_size, MNIST_INPUT_SIZES)
        if not isinstance(self.hidden, tuple) or len(self.hidden) == 0:
            raise ConfigError("hidden", self.hidden, "a non-empty tuple of widths (depth >= 1)")
        for width in self.hidden:
            if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 4096:
                raise ConfigError("hidden", self.hidden, "every width an integer from 1 to 4096")
        if self.architecture == "cnn":
            self._check_cnn()
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_int("epochs", self.epochs, 0, 1000)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0)
        _check_int("train_batch_size", self.train_batch_size, 1, 100_000)
        _check_int("train_subset", self.train_subset, 10, 60_000)
        _check_int("hessian_batch_size", self.hessian_batch_size, 1, 60_000)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_int("synthetic_dim", self.synthetic_dim, 1, 1024)
        _check_int("checkpoints", self.checkpoints, 0, 200)
        if self.checkpoints and self.epochs == 0:
            raise ConfigError("checkpoints", self.checkpoints, "0 when epochs=0 (nothing is trained)")
        _check_int("checkpoint", self.checkpoint, -1, max(self.checkpoints - 1, -1))
        from .device import DEVICES, cuda_available, resolve

        _check_choice("device", self.device, DEVICES)
        if self.device != "cpu":
            object.__setattr__(self, "device", resolve(self.device))
            if self.device == "cuda" and not cuda_available():
                raise ConfigError("device", "cuda", "'cpu' or 'auto': no CUDA device is visible here")

    def _check_cnn(self) -> None:
        """A CNN needs images, and every convolution block halves the side: it must stay >= 1."""
        if self.dataset == "synthetic":
            raise ConfigError("architecture", "cnn", "'mlp' with dataset='synthetic' (a CNN needs images: "
                              "dataset 'mnist' or 'digits')")
        if len(self.hidden) > MAX_CONV_LAYERS:
            raise ConfigError("hidden", self.hidden, f"at most {MAX_CONV_LAYERS} channel counts for a cnn "
                              "(one per 3x3 convolution + 2x2 pooling block)")
        if max(self.hidden) > MAX_CHANNELS:
            raise ConfigError("hidden", self.hidden, f"every channel count of a cnn from 1 to {MAX_CHANNELS}")
        # MNIST may fall back to the 8x8 digits, so both sides must survive the pooling
        sides = [self.input_size, NATIVE_SIZE["digits"]] if self.dataset == "mnist" else [NATIVE_SIZE["digits"]]
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
        return self.input_size**2

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
        """The same training with the final parameters studied: what training depends on."""
        return self if self.checkpoint == -1 else dataclasses.replace(self, checkpoint=-1)

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
        size = f" {self.input_size}px" if self.dataset == "mnist" else ""
        widths = "x".join(map(str, self.hidden))
        shape = f"{self.architecture}[{widths}]" + ("+BN" if self.batch_norm else "")
        extra = (" mse" if self.loss == "mse" else "") + (f" C={self.num_classes}" if self.num_classes != NUM_CLASSES else "")
        return f"{self.dataset}{size} {shape} {self.activation}{extra} N={self.hessian_batch_size} seed={self.seed}"


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
