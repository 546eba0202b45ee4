"""All curvature methods behind one interface; importing this package registers them."""

from . import backpack_methods, exact, matrix_free, pyhessian_methods, slq  # noqa: F401  (registers)
from .registry import REGISTRY, MethodError, MethodSpec, get_spec, resolve_options, run_method

__all__ = ["REGISTRY", "MethodError", "MethodSpec", "get_spec", "resolve_options", "run_method"]
