"""The method registry: name -> how to compute a :class:`~core.results.Result` from a problem.

Adding a method is one function plus one ``@register(...)`` line; the CLI and the app list
methods from here and never branch on a method's type (BackPACK's extension registry is the
model). Options are validated against the registered defaults before any work starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..budget import BudgetExceeded
from ..memory import peak_memory
from ..problem import Problem
from ..results import Result


class MethodError(ValueError):
    """Unknown method or bad option; the message says what is allowed."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    label: str
    family: str
    matrix: str
    func: Callable[[Problem, dict], Result]
    defaults: dict = field(default_factory=dict)
    stochastic: bool = False
    dense: bool = False
    reference: str = ""
    summary: str = ""


REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, label: str, family: str, matrix: str = "hessian", defaults: dict | None = None,
             stochastic: bool = False, dense: bool = False, reference: str = ""):
    """Decorator adding ``func(problem, options) -> Result`` to :data:`REGISTRY`."""

    def wrap(func):
        summary = (func.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        REGISTRY[name] = MethodSpec(name, label, family, matrix, func, dict(defaults or {}),
                                    stochastic, dense, reference, summary)
        return func

    return wrap


def get_spec(name: str) -> MethodSpec:
    if name not in REGISTRY:
        raise MethodError(f"unknown method {name!r}; choose from: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def resolve_options(name: str, options: dict | None = None) -> dict:
    """The method's defaults updated with ``options``, each checked for name, type and sign."""
    spec = get_spec(name)
    resolved = dict(spec.defaults)
    for key, value in (options or {}).items():
        if key not in spec.defaults:
            allowed = ", ".join(spec.defaults) or "none"
            raise MethodError(f"{name}: unknown option {key!r}; options are: {allowed}")
        default = spec.defaults[key]
        kind = type(default)
        try:
            if kind is bool:
                if not isinstance(value, (bool, int)) and str(value).lower() not in ("true", "false", "0", "1"):
                    raise ValueError
                value = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            elif kind is int:
                if float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            elif kind is float:
                value = float(value)
            elif kind is str:
                value = str(value)
        except (TypeError, ValueError):
            raise MethodError(f"{name}: option {key}={value!r} must be a {kind.__name__}") from None
        if kind in (int, float) and not (value > 0 or (key in ("tol", "seed") and value >= 0)):
            raise MethodError(f"{name}: option {key}={value!r} must be positive")
        resolved[key] = value
    return resolved


def run_method(name: str, problem: Problem, options: dict | None = None) -> Result:
    """Run a registered method, timing it; a budget refusal becomes a failed Result."""
    spec = get_spec(name)
    opts = resolve_options(name, options)
    start_count = problem.hvp_count
    start = time.perf_counter()
    try:
        with peak_memory() as memory:
            result = spec.func(problem, opts)
    except BudgetExceeded as refusal:
        return Result.failed(name, spec.family, str(refusal), opts)
    except NotImplementedError as unsupported:
        return Result.failed(name, spec.family, f"{spec.label} cannot run here: {unsupported}", opts)
    result.seconds = result.seconds or time.perf_counter() - start
    result.method, result.family, result.matrix = name, spec.family, spec.matrix
    result.options = opts
    result.peak_memory_bytes = memory["bytes"]
    if not result.matvecs:
        result.matvecs = problem.hvp_count - start_count
    return result
