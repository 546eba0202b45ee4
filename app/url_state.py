"""Every sidebar control in the URL (``st.query_params``), so a reload, a bookmark or a link to a
colleague shows the same view.

The URL parameters are the configuration fields that name one (:data:`core.config.FIELDS`,
``url``), the app's own three (the methods, the Hutchinson sample count and presentation mode)
and the pages' own controls (:data:`PAGE_CONTROLS`: k, scales, bins, repeats, the landscape's
grids), each one line there with its range and default. On a session's first run the URL's values are checked and copied into the widgets' state;
a bad value gets the same one-line message as a bad control and leaves that control at its
default. After each run the controls that differ from their defaults are written back (the others
are removed, so the default view has a bare URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from core.config import FIELDS, ConfigError
from core.landscape import DEFAULTS as LANDSCAPE
from core.methods import REGISTRY
from core.results import KEPT_VECTORS
from core.studies import DEFAULT_REPEATS

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


@dataclass(frozen=True)
class PageControl:
    """A page's own control: its widget key, its default, and the integers (``low`` to ``high``),
    the listed values (``choices``) or the switch (``bool``) it takes."""

    key: str
    default: object
    low: int | None = None
    high: int | None = None
    choices: tuple = ()

    def parse(self, name: str, text: str):
        if isinstance(self.default, bool):
            if text not in ("0", "1"):
                raise ConfigError(name, text, "1 (on) or 0 (off)")
            return text == "1"
        if self.choices:
            found = next((c for c in self.choices if str(c) == text), None)
            if found is None:
                raise ConfigError(name, text, "one of " + ", ".join(map(str, self.choices)))
            return found
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not self.low <= value <= self.high:
            raise ConfigError(name, text, f"an integer from {self.low} to {self.high}")
        return value

    def format(self, value) -> str:
        return ("1" if value else "0") if isinstance(self.default, bool) else str(value)


#: URL parameter -> each page's own control (drawn by its page with this key and no default of its own)
PAGE_CONTROLS: dict[str, PageControl] = {
    "k": PageControl("top_k", 10, 1, 50),
    "symlog": PageControl("top_symlog", True),
    "dk": PageControl("directions_k", min(5, KEPT_VECTORS), 1, KEPT_VECTORS),
    "logaxis": PageControl("spectrum_log", True),
    "bins": PageControl("spectrum_bins", 80, 20, 200),
    "repeats": PageControl("hutchinson_repeats", DEFAULT_REPEATS, 2, 50),
    "rise": PageControl("landscape_rise", LANDSCAPE["rise"], choices=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0)),
    "points": PageControl("landscape_points", LANDSCAPE["points"], choices=(21, 41, 81)),
    "grid": PageControl("landscape_grid", LANDSCAPE["grid"], choices=(11, 21, 31)),
    "heldout": PageControl("landscape_held_out", LANDSCAPE["held_out"]),
}
#: each page control's default, by widget key
PAGE_DEFAULTS = {c.key: c.default for c in PAGE_CONTROLS.values()}


def _page_param(name: str) -> tuple[str, Callable, Callable]:
    control = PAGE_CONTROLS[name]
    return control.key, lambda text: control.parse(name, text), control.format


#: URL parameter -> (widget key, parse text -> widget value, widget value -> text)
PARAMS: dict[str, tuple[str, Callable, Callable]] = {
    **{f.url: _field_param(f.name) for f in FIELDS.values() if f.url},
    "methods": ("cfg_methods", _methods, ",".join),
    "samples": ("cfg_samples", _samples, str),
    "present": ("cfg_present", _present, lambda on: "1" if on else "0"),
    **{name: _page_param(name) for name in PAGE_CONTROLS},
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
