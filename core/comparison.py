"""Methods against the exact Hessian on one configuration: the paper's table and any comparison.

* :func:`paper_table`: exact Hessian vs PyHessian (power iteration + Hutchinson with the
  paper's m = 25) on the current configuration, beside the paper's figures (:mod:`core.paper`);
* :func:`compare`: any set of methods against the exact Hessian (the CLI's ``compare``).

Plain dicts and lists (JSON as they stand); the CLI prints them, the app draws them.
"""

from __future__ import annotations

import numpy as np

from . import metrics, paper, pipeline
from .config import ExperimentConfig
from .methods import REFERENCE, MethodError
from .results import Result
from .tables import comparison_row, format_cell, reference

#: the paper's datasets: its columns compare by value only on a run of these
PAPER_DATASETS = ("mnist", "mnist-t10k")


def formatted_rows(table: dict) -> list[list[str]]:
    """The paper table's rows as display strings (the ``time for ...`` rows with their units)."""
    return [[row[0], *(format_cell(v, seconds=row[0].startswith("time for")) for v in row[1:])] for row in table["rows"]]


def _results(config, steps, show_bar: bool) -> dict[str, Result]:
    """Every ``(method, options)`` of ``steps`` checked (names, options, against P) before any
    work, then run; a tqdm bar on stderr with ``show_bar``."""
    from tqdm import tqdm

    resolved = [(name, pipeline.validate(config, name, options)) for name, options in steps]
    return {name: pipeline.run(config, name, options)
            for name, options in tqdm(resolved, desc="methods", unit="method", disable=not show_bar, leave=False)}


def paper_table(config: ExperimentConfig, hutchinson_samples: int = paper.HUTCHINSON_SAMPLES,
                top_k: int = paper.TOP_K, show_bar: bool = False) -> dict:
    """The paper's table on ``config``: exact Hessian vs PyHessian (power iteration + Hutchinson).

    Returns:
        ``{"info", "header", "rows", "errors", "notes", "results"}``; rows are
        ``[label, ours exact, ours PyHessian, paper exact, paper PyHessian]`` with numbers
        (None where there is none). The PyHessian "all eigenvalues" time is extrapolated (its
        label and the notes say so); on a dataset the paper did not use, the paper's columns
        are labelled as its MNIST figures.
    """
    steps = [(REFERENCE, {}), ("pyhessian_top_k", {"k": top_k}), ("pyhessian_hutchinson", {"samples": hutchinson_samples})]
    results = _results(config, steps, show_bar)
    exact, power, hutch = (results[name] for name, _ in steps)
    info = pipeline.describe(config)
    p = info["num_params"]

    def val(result, getter):
        return getter(result) if result.ok else None

    all_time_pyhessian = None
    if power.ok and power.top is not None:
        all_time_pyhessian = power.seconds / len(power.top) * p  # deflation, one eigenvalue at a time
    ours, theirs = paper.TABLE["exact"], paper.TABLE["pyhessian"]
    rows = [
        ["Tr(H)", val(exact, lambda r: r.trace), val(hutch, lambda r: r.trace), ours["trace"], theirs["trace"]],
        ["time for Tr(H)", val(exact, lambda r: r.seconds_trace), val(hutch, lambda r: r.seconds),
         ours["seconds_trace"], theirs["seconds_trace"]],
        ["maximum eigenvalue", val(exact, lambda r: r.top[0]), val(power, lambda r: r.top[0]),
         ours["max_eigenvalue"], theirs["max_eigenvalue"]],
        ["minimum eigenvalue", val(exact, lambda r: r.spectrum[0]), None, None, None],
        [f"time for top-{top_k}", val(exact, lambda r: r.seconds), val(power, lambda r: r.seconds), None, None],
        ["time for all eigenvalues (PyHessian's extrapolated)", val(exact, lambda r: r.seconds),
         all_time_pyhessian, ours["seconds_all"], theirs["seconds_all"]],
        [f"max rel. error top-{top_k} vs exact", 0.0 if exact.ok else None,
         float(np.nanmax(metrics.top_k_errors(power, exact, top_k, by_magnitude=True))) if exact.ok and power.ok
         else None, None, None],
    ]
    where = "paper" if info["dataset_used"] in PAPER_DATASETS else "paper, its MNIST"
    header = ["", "Full Hessian (ours)", f"PyHessian (ours, m={hutchinson_samples})",
              f"Full Hessian ({where})", f"PyHessian ({where}, m={paper.HUTCHINSON_SAMPLES})"]
    notes = ["PyHessian's 'all eigenvalues' time is extrapolated: top-k time / k x P "
             "(power iteration with deflation, one eigenvalue at a time).",
             "Power iteration finds the eigenvalues of largest |λ|, so its error is against the exact "
             "eigenvalues of largest magnitude."]
    if info["dataset_used"] not in PAPER_DATASETS:
        notes.append(f"This run uses {info['dataset_used']}, not MNIST: the paper's columns are its MNIST figures, "
                     "to compare for shape (which is larger, by how much), not value.")
    return {"info": info, "header": header, "rows": rows,
            "errors": {n: r.error for n, r in results.items() if not r.ok}, "notes": notes,
            "results": {n: r.to_dict() for n, r in results.items()}}


def compare(config: ExperimentConfig, methods: list[str], options: dict | None = None, top_k: int = 10,
            show_bar: bool = False) -> dict:
    """Run ``methods`` (plus the exact Hessian as reference) and compare each with it; past the
    exact limit, with the certified values that stand in for it (:func:`core.tables.reference`,
    named in ``"reference"``).

    Every name and option is checked before any work starts (:class:`MethodError`).
    """
    options = options or {}
    unknown = set(options) - set(methods)
    if unknown:
        raise MethodError(f"options given for {sorted(unknown)}, which are not among the methods {methods}")
    names = pipeline.selection(methods)
    results = _results(config, [(m, options.get(m, {})) for m in names], show_bar)
    against, words = reference(results)
    rows = [comparison_row(results[m], against, top_k) for m in names if m in methods or m != REFERENCE]
    return {"info": pipeline.describe(config), "top_k": top_k, "reference": words, "rows": rows,
            "results": {n: r.to_dict() for n, r in results.items()}}
