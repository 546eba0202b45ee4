"""All curvature methods behind one interface (:mod:`.registry`), listed in :mod:`.catalogue`.

Importing this package registers every method without importing torch or any library;
a method's code is imported when it first runs.
"""

from .catalogue import DEFAULT_SELECTION
from .registry import (DEFAULT_SAMPLES, cannot_run_reason, check_for_size, REGISTRY, MethodError, MethodSpec, get_spec, options_for,
                       resolve_options, round_to_multiple, run_method, yielding)

__all__ = ["DEFAULT_SAMPLES", "cannot_run_reason", "check_for_size", "DEFAULT_SELECTION", "REGISTRY", "MethodError", "MethodSpec", "get_spec", "options_for",
           "resolve_options", "round_to_multiple", "run_method", "yielding"]
