"""Silence the known, harmless warnings of the libraries we build on, in one place.

* PyHessian calls ``backward(create_graph=True)`` on parameters, which torch warns about;
* BackPACK's full backward hooks and torch's jit deprecations inside BackPACK and curvlinops;
* joblib's note when it meets an unreadable cache entry (we recompute it on purpose).

The CLI, the app and the benchmarks call :func:`quiet` once at start-up.
"""

from __future__ import annotations

import warnings


def quiet() -> None:
    """Install the filters (idempotent)."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*create_graph=True.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="joblib")
    warnings.filterwarnings("ignore", message="Full backward hook is firing.*")
