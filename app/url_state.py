"""Every sidebar control in the URL (``st.query_params``), so a reload, a bookmark or a link to a
colleague shows the same view.

On a session's first run the URL's values are checked and copied into the widgets' state; a bad
value gets the same one-line message as a bad control and leaves that control at its default.
After each run the controls that differ from their defaults are written back (the others are
removed, so the default view has a bare URL).
"""

from __future__ import annotations

from typing import Callable

from core.config import (ACTIVATIONS, ARCHITECTURES, DATASETS, LOSS_NAMES, MNIST_INPUT_SIZES, NUM_CLASSES, ConfigError,
                         parse_hidden)
from core.methods import REGISTRY


def _choice(name: str, choices) -> Callable[[str], object]:
    def parse(text: str):
        for choice in choices:
            if str(choice) == text:
                return choice
        raise ConfigError(name, text, "one of " + ", ".join(map(str, choices)))

    return parse


def _number(name: str, low: float, high: float, kind: type = float) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ConfigError(name, text, f"{'an integer' if kind is int else 'a number'} from {low:g} to {high:g}")
        return value

    return parse


def _integer(name: str, low: int, high: int) -> Callable[[str], int]:
    return _number(name, low, high, int)


def _hidden(text: str) -> str:
    return ",".join(map(str, parse_hidden(text)))


def _methods(text: str) -> list[str]:
    names = [m for m in text.split(",") if m]
    unknown = [m for m in names if m not in REGISTRY]
    if unknown:
        raise ConfigError("methods", text, "registered method names, comma separated: " + ", ".join(REGISTRY))
    return names


def _flag(name: str, meaning: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        if text not in ("0", "1"):
            raise ConfigError(name, text, f"1 ({meaning}) or 0")
        return text == "1"

    return parse


#: URL parameter -> (widget key, parse text -> value, value -> text)
PARAMS: dict[str, tuple[str, Callable, Callable]] = {
    "arch": ("cfg_architecture", _choice("arch", ARCHITECTURES), str),
    "bn": ("cfg_batch_norm", _flag("bn", "BatchNorm"), lambda on: "1" if on else "0"),
    "loss": ("cfg_loss", _choice("loss", LOSS_NAMES), str),
    "C": ("cfg_num_classes", _integer("C", 2, NUM_CLASSES), str),
    "dataset": ("cfg_dataset", _choice("dataset", DATASETS), str),
    "input_size": ("cfg_input_size", _choice("input_size", MNIST_INPUT_SIZES), str),
    "hidden": ("cfg_hidden", _hidden, str),
    "activation": ("cfg_activation", _choice("activation", ACTIVATIONS), str),
    "N": ("cfg_hessian_batch_size", _integer("N", 1, 60_000), str),
    "epochs": ("cfg_epochs", _integer("epochs", 0, 1000), str),
    "seed": ("cfg_seed", _integer("seed", 0, 2**31 - 1), str),
    "methods": ("cfg_methods", _methods, ",".join),
    "samples": ("cfg_samples", _integer("samples", 3, 500), str),
    "present": ("cfg_present", _flag("present", "presentation mode"), lambda on: "1" if on else "0"),
    "device": ("cfg_device", _choice("device", ("cpu", "auto", "cuda")), str),
    "optimizer": ("cfg_optimizer", _choice("optimizer", ("adam", "sgd", "gd")), str),
    "lr": ("cfg_lr", _number("lr", 1e-5, 10.0), repr),
    "checkpoints": ("cfg_checkpoints", _integer("checkpoints", 0, 200), str),
    "checkpoint": ("cfg_checkpoint", _integer("checkpoint", -1, 199), str),
}


def read(query: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """Widget values from URL parameters, and a one-line message per bad one.

    >>> read({"hidden": "16, 8", "N": "x"})
    ({'cfg_hidden': '16,8'}, ["URL parameter N='x' is not allowed: an integer from 1 to 60000"])
    """
    values, errors = {}, []
    for name, text in query.items():
        if name not in PARAMS:
            errors.append(f"URL parameter {name!r} is unknown: one of {', '.join(PARAMS)}")
            continue
        key, parse, _ = PARAMS[name]
        try:
            values[key] = parse(text)
        except ConfigError as error:
            errors.append(f"URL parameter {error}")
    return values, errors


def write(values: dict[str, object], defaults: dict[str, object]) -> dict[str, str]:
    """The URL parameters of the widget ``values`` that differ from ``defaults``.

    >>> write({"cfg_hidden": "16", "cfg_seed": 0}, {"cfg_hidden": "8", "cfg_seed": 0})
    {'hidden': '16'}
    """
    return {name: fmt(values[key]) for name, (key, _, fmt) in PARAMS.items()
            if key in values and values[key] != defaults.get(key)}
