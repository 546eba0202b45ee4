"""Every sidebar control in the URL (``st.query_params``), so a reload, a bookmark or a link to a
colleague shows the same view.

The URL parameters are the configuration fields that name one (:data:`core.config.FIELDS`,
``url``) plus the app's own three: the methods, the Hutchinson sample count and presentation
mode. On a session's first run the URL's values are checked and copied into the widgets' state;
a bad value gets the same one-line message as a bad control and leaves that control at its
default. After each run the controls that differ from their defaults are written back (the others
are removed, so the default view has a bare URL).
"""

from __future__ import annotations

from typing import Callable

from core.config import FIELDS, ConfigError
from core.methods import REGISTRY

#: the Hutchinson sample count's slider range (also the product budget of Hutch++ and XTrace)
SAMPLES_RANGE = (3, 500)


def widget_key(field_name: str) -> str:
    """The session-state key of the widget that edits ``field_name``."""
    return f"cfg_{field_name}"


def _methods(text: str) -> list[str]:
    names = [m for m in text.split(",") if m]
    if [m for m in names if m not in REGISTRY]:
        raise ConfigError("methods", text, "registered method names, comma separated: " + ", ".join(REGISTRY))
    return names


def _samples(text: str) -> int:
    low, high = SAMPLES_RANGE
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError("samples", text, f"an integer from {low} to {high}")
    return value


def _present(text: str) -> bool:
    if text not in ("0", "1"):
        raise ConfigError("present", text, "1 (presentation mode) or 0")
    return text == "1"


def _field_param(name: str) -> tuple[str, Callable, Callable]:
    f = FIELDS[name]
    if f.kind == "widths":  # its widget holds text
        return widget_key(name), lambda text: f.format(f.parse(text, f.url)), str
    return widget_key(name), lambda text: f.parse(text, f.url), f.format


#: URL parameter -> (widget key, parse text -> widget value, widget value -> text)
PARAMS: dict[str, tuple[str, Callable, Callable]] = {
    **{f.url: _field_param(f.name) for f in FIELDS.values() if f.url},
    "methods": ("cfg_methods", _methods, ",".join),
    "samples": ("cfg_samples", _samples, str),
    "present": ("cfg_present", _present, lambda on: "1" if on else "0"),
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
