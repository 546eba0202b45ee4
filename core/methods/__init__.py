"""All curvature methods behind one interface (:mod:`.registry`), listed in :mod:`.catalogue`.

Importing this package registers every method without importing torch or any library;
a method's code is imported when it first runs.
"""

from .catalogue import (DEFAULT_SELECTION, DIRECTION_REFERENCES, GGN_REFERENCE, PRESENTATION_SELECTION, REFERENCE,
                        STAND_INS)
from .registry import (CANNOT_RUN, DEFAULT_SAMPLES, FAMILIES, REGISTRY, MethodError, MethodSpec, cannot_run_reason,
                       check_budget, check_for_size, compute_result, estimate, get_spec, options_for, resolve_options,
                       round_to_multiple, yielding)

__all__ = ["CANNOT_RUN", "DEFAULT_SAMPLES", "DEFAULT_SELECTION", "DIRECTION_REFERENCES", "FAMILIES", "GGN_REFERENCE",
           "PRESENTATION_SELECTION", "REFERENCE", "REGISTRY", "STAND_INS", "MethodError", "MethodSpec",
           "cannot_run_reason", "check_budget", "check_for_size",
           "compute_result", "estimate", "get_spec", "options_for", "resolve_options", "round_to_multiple", "yielding"]
