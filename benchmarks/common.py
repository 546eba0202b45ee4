"""Timing helpers and the shared top-10 error, for every benchmark row."""

from __future__ import annotations

import statistics
import time

import numpy as np

from core.metrics import relative_errors


def timed(func):
    """``(seconds, value)`` of calling ``func()``."""
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def stats(values) -> dict:
    """min / median / max of ``values``."""
    values = list(values)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def top10_error(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest relative error of the 10 largest ``values`` against the 10 largest of ``reference``."""
    return float(np.max(relative_errors(np.sort(values)[::-1][:10], np.sort(reference)[::-1][:10])))
