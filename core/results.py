"""One result type for every method, so pages and the CLI never special-case a method.

Plain data: numpy arrays are turned into lists by :meth:`Result.to_dict`, so a result is JSON
as it stands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Result:
    """What a method made of the curvature of one problem.

    Attributes:
        method: registry name, e.g. ``"lanczos"``; ``family``: ``exact``, ``pyhessian``,
            ``backpack``, ``matrix-free``.
        matrix: what it approximates: ``"hessian"`` or ``"ggn"``.
        spectrum: all eigenvalues, ascending, when the method yields all of them.
        top: largest eigenvalues, descending; ``bottom``: smallest, ascending.
        trace: its trace (estimate), or None.
        matvecs: Hessian/GGN-vector products used; ``backward_passes``: backward passes.
        seconds: wall time of the computation (not of loading it from the cache).
        peak_memory_bytes: extra resident memory at the computation's peak (see
            :mod:`core.memory`), or None where it cannot be measured.
        options: the options that produced it; ``extras``: method-specific data (density grid
            and weights, every Hutchinson sample, per-block reports ...).
        error: why it could not run (over budget, unsupported activation ...), else None.
    """

    method: str
    family: str
    matrix: str = "hessian"
    spectrum: np.ndarray | None = None
    top: np.ndarray | None = None
    bottom: np.ndarray | None = None
    trace: float | None = None
    matvecs: int = 0
    backward_passes: int = 0
    seconds: float = 0.0
    peak_memory_bytes: int | None = None
    options: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self):
        if self.spectrum is not None:
            self.spectrum = np.sort(np.asarray(self.spectrum, dtype=np.float64))
            if self.top is None:
                self.top = self.spectrum[::-1][:100].copy()
            if self.bottom is None:
                self.bottom = self.spectrum[:100].copy()
            if self.trace is None:
                self.trace = float(self.spectrum.sum())
        if self.top is not None:
            self.top = np.sort(np.asarray(self.top, dtype=np.float64))[::-1]
        if self.bottom is not None:
            self.bottom = np.sort(np.asarray(self.bottom, dtype=np.float64))

    @property
    def ok(self) -> bool:
        return self.error is None

    def top_k(self, k: int) -> np.ndarray:
        """The k largest eigenvalues it has (fewer if it has fewer), descending."""
        return np.array([]) if self.top is None else self.top[:k]

    def to_dict(self) -> dict[str, Any]:
        def plain(value):
            if isinstance(value, np.ndarray):
                return value.tolist()
            if isinstance(value, (np.floating, np.integer)):
                return value.item()
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in asdict(self).items()}

    @classmethod
    def failed(cls, method: str, family: str, error: str, options: dict | None = None) -> "Result":
        return cls(method=method, family=family, options=dict(options or {}), error=error)
