"""Plain result types: what a method estimates, what the registry stores, what training gives.

* :class:`Estimate`: what a method function returns: the quantities it estimated, nothing
  about who it is or how long it took;
* :class:`Result`: what :func:`core.methods.compute_result` builds from an estimate: the method's
  name, family and matrix, the resolved options, wall time and memory, or the reason it could
  not run. Every page and the CLI read only named fields of it;
* :class:`Density`: a smoothed spectral density (SLQ);
* :class:`TrainingResult`: trained weights and metrics.

All numpy and plain Python (no torch), so the app can load cached results without importing
torch, and :meth:`Result.to_dict` is JSON as it stands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


def plain(value):
    """numpy arrays and scalars, dataclasses, dicts and lists turned into JSON-able values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass
class Density:
    """A spectral density estimate from stochastic Lanczos quadrature.

    Attributes:
        grid, values: the Gaussian-smoothed density on a grid (integrates to one).
        nodes, weights: ``(runs, m)`` Ritz values and quadrature weights (rows sum to one).
        sigma: the smoothing width.
        spread: the standard deviation over the probe vectors of each run's density on the grid
            (zero with one run): how far one probe's picture is from their mean.
    """

    grid: np.ndarray
    values: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    spread: np.ndarray | None = None


@dataclass
class Estimate:
    r"""What a curvature method estimated. Unset fields are ``None``.

    Attributes:
        spectrum: all eigenvalues, when the method yields all of them.
        top, bottom: largest / smallest eigenvalues it found.
        trace: its trace (estimate).
        matvecs: curvature-vector products used, when the method counts them itself
            (otherwise the registry counts the problem's products).
        backward_passes: backward passes used.
        diagonal: the diagonal of the matrix it approximates (exact and diagonal methods).
        samples: every single-vector trace sample :math:`v^\top H v` (Hutchinson).
        density: a spectral density (SLQ).
        blocks: per-parameter Kronecker block data (factor shapes and traces).
        seconds_trace: seconds until the trace was known (dense methods).
        exact_zero_eigenvalues: eigenvalues known to be exactly zero without solving.
        matvec_budget: the product budget an estimator ran with.
        order_as_returned: eigenvalues in the order the library returned them.
        top_residuals, bottom_residuals: each top / bottom value's certificate, the residual
            :math:`\lVert Hy - \theta y\rVert` of its unit Ritz vector: some eigenvalue lies within it.
        top_converged, bottom_converged: whether each value met the method's tolerance.
        trace_standard_error: the standard error of a stochastic trace (sample std / sqrt(m)).
        stopped: why an iterative method stopped (``converged``, ``product cap``, ``time budget``, ...).
        seconds_per_product: one product's cost measured on this problem at the start of the run.
        layers: per layer (weights and biases together, forward order) the top eigenvalues and the
            trace of the method's diagonal block, ``[{layer, top, trace}]``, where its matrix is
            block diagonal by construction (the diagonal and Kronecker approximations).
        top_vectors, bottom_vectors: ``(k, P)`` float32 unit eigenvectors (or Ritz vectors, or
            iterates) of the first k top / bottom values, row i with value i; at most
            :data:`KEPT_VECTORS`. Not in :meth:`Result.to_dict` (their shapes are).
    """

    spectrum: np.ndarray | None = None
    top: np.ndarray | None = None
    bottom: np.ndarray | None = None
    trace: float | None = None
    matvecs: int | None = None
    backward_passes: int = 0
    diagonal: np.ndarray | None = None
    samples: np.ndarray | None = None
    density: Density | None = None
    blocks: list | None = None
    seconds_trace: float | None = None
    exact_zero_eigenvalues: int | None = None
    matvec_budget: int | None = None
    order_as_returned: list | None = None
    top_residuals: np.ndarray | None = None
    bottom_residuals: np.ndarray | None = None
    top_converged: np.ndarray | None = None
    bottom_converged: np.ndarray | None = None
    trace_standard_error: float | None = None
    stopped: str | None = None
    seconds_per_product: float | None = None
    top_vectors: np.ndarray | None = None
    bottom_vectors: np.ndarray | None = None
    layers: list | None = None


#: the top eigenvalues kept per layer block
LAYER_TOP = 5
#: how many eigenvectors a method keeps at each end (the directions pages compare up to this k)
KEPT_VECTORS = 10
#: the fields too large for JSON: :meth:`Result.to_dict` gives their shapes instead
VECTOR_FIELDS = ("top_vectors", "bottom_vectors")


@dataclass(init=False)
class Result(Estimate):
    """An :class:`Estimate` with who made it, at what cost, or why it could not run.

    Attributes (besides :class:`Estimate`'s):
        method: registry name, e.g. ``"lanczos"``; ``family``: ``exact``, ``pyhessian``,
            ``backpack``, ``curvlinops``, ``matrix-free``; ``matrix``: ``hessian`` or ``ggn``.
        seconds: wall time of the computation (not of loading it from the cache).
        peak_memory_bytes: extra resident memory at the computation's peak, or None.
        options: the resolved options that produced it.
        error: why it could not run (over budget, unsupported ...), else None.

    A spectrum fills ``top``/``bottom`` (100 each) and the trace when they are unset:

    >>> r = Result("demo", "exact", spectrum=np.array([3.0, -1.0, 2.0]))
    >>> r.top.tolist(), r.bottom.tolist(), r.trace
    ([3.0, 2.0, -1.0], [-1.0, 2.0, 3.0], 4.0)
    """

    method: str = ""
    family: str = ""
    matrix: str = "hessian"
    seconds: float = 0.0
    peak_memory_bytes: int | None = None
    options: dict = field(default_factory=dict)
    error: str | None = None

    def __init__(self, method: str = "", family: str = "", matrix: str = "hessian", **values):
        for f in fields(self):
            if f.name not in ("method", "family", "matrix"):
                default = f.default_factory() if callable(f.default_factory) else f.default
                setattr(self, f.name, values.pop(f.name, default))
        if values:
            raise TypeError(f"unknown Result fields: {sorted(values)}")
        self.method, self.family, self.matrix = method, family, matrix
        self.matvecs = 0 if self.matvecs is None else self.matvecs
        self._normalise()

    def _normalise(self):
        if self.spectrum is not None:
            self.spectrum = np.sort(np.asarray(self.spectrum, dtype=np.float64))
            if self.top is None:
                self.top = self.spectrum[::-1][:100].copy()
            if self.bottom is None:
                self.bottom = self.spectrum[:100].copy()
            if self.trace is None:
                self.trace = float(self.spectrum.sum())
        if self.top is not None:  # descending, each certificate with its value
            order = np.argsort(-np.asarray(self.top, dtype=np.float64), kind="stable")
            self.top = np.asarray(self.top, dtype=np.float64)[order]
            self.top_residuals, self.top_converged = _reordered(order, self.top_residuals, self.top_converged)
            self.top_vectors = _vectors_reordered(order, self.top_vectors)
        if self.bottom is not None:  # ascending
            order = np.argsort(np.asarray(self.bottom, dtype=np.float64), kind="stable")
            self.bottom = np.asarray(self.bottom, dtype=np.float64)[order]
            self.bottom_residuals, self.bottom_converged = _reordered(order, self.bottom_residuals,
                                                                      self.bottom_converged)
            self.bottom_vectors = _vectors_reordered(order, self.bottom_vectors)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def certified(self) -> bool:
        """Whether its top values carry residual certificates."""
        return self.ok and self.top is not None and self.top_residuals is not None

    def max_residual(self) -> float | None:
        """The largest certificate among its top and bottom values, or None without certificates."""
        found = [np.max(r) for r in (self.top_residuals, self.bottom_residuals) if r is not None and len(r)]
        return float(max(found)) if found else None

    def top_k(self, k: int) -> np.ndarray:
        """The k largest eigenvalues it has (fewer if it has fewer), descending."""
        return np.array([]) if self.top is None else self.top[:k]

    def vectors(self, end: str = "top") -> np.ndarray | None:
        """Its ``(k, P)`` eigenvectors at ``end`` (``"top"`` or ``"bottom"``), or None."""
        return getattr(self, f"{end}_vectors") if self.ok else None

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able data; eigenvectors as their shapes (``top_vectors_shape``)."""
        found = {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name not in VECTOR_FIELDS}
        for name in VECTOR_FIELDS:
            value = getattr(self, name)
            found[f"{name}_shape"] = None if value is None else list(np.shape(value))
        return found

    @classmethod
    def from_estimate(cls, estimate: Estimate, **about) -> "Result":
        """The result of ``estimate`` with ``about`` (method, family, matrix, seconds, ...)."""
        values = {f.name: getattr(estimate, f.name) for f in fields(Estimate)}
        return cls(**values, **about)

    @classmethod
    def failed(cls, method: str, family: str, error: str, options: dict | None = None) -> "Result":
        """A result that says why the method could not run."""
        return cls(method, family, options=dict(options or {}), error=error)


def _vectors_reordered(order: np.ndarray, vectors):
    """Rows of ``vectors`` permuted with their values (float32); rows for the first values only
    (a spectrum's 100 top values, 10 vectors) are already in order."""
    if vectors is None:
        return None
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors[order] if len(vectors) == len(order) else vectors


def _reordered(order: np.ndarray, *arrays):
    """Each of ``arrays`` (or None) permuted by ``order``."""
    return tuple(None if a is None else np.asarray(a)[order] for a in arrays)


@dataclass
class TrainingResult:
    """Trained weights (name -> array) and the metrics a user asks first.

    Attributes:
        state: the model's ``state_dict`` as numpy arrays.
        num_params: P, read from the built model.
        train_loss, train_accuracy, test_loss, test_accuracy: final metrics.
        seconds: training wall time.
        dataset_used: what was really loaded (``mnist``, ``mnist-t10k``, ``digits``, ``synthetic``).
        notice: a substitution said in words for a person, or None.
        history: per-epoch training loss and accuracy.
        checkpoints: parameter snapshots during training, ``[{step, train_loss,
            train_accuracy, state}]`` (see ``ExperimentConfig.checkpoints``).
    """

    state: dict[str, np.ndarray]
    num_params: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    seconds: float
    dataset_used: str
    notice: str | None
    history: list[dict] = field(default_factory=list)
    checkpoints: list[dict] = field(default_factory=list)

    def metrics(self) -> dict:
        """The metrics without the weights."""
        return {k: getattr(self, k) for k in ("num_params", "train_loss", "train_accuracy", "test_loss",
                                              "test_accuracy", "seconds", "dataset_used", "notice")}
