"""Row 8: a sweep of 12 cells (plus their 6 exact references) run serially, on 2 local processes
(loky) and on a 2-worker local Dask cluster, each on an empty cache, wall times in one run;
and the overhead per cached cell when the same sweep is asked for again."""

from __future__ import annotations

import tempfile

from core import sweep, workspace

from .common import timed

GRID = {"hidden": ["4", "8", "12"], "activation": ["relu", "tanh"]}
FIXED = {"dataset": "digits", "epochs": 3, "hessian_batch_size": 300}
METHODS = {"lanczos": {}, "hutchpp": {"samples": 60}}


def sweep_row(quick: bool = False) -> dict:
    grid = {"hidden": ["4", "8"], "activation": ["relu", "tanh"]} if quick else GRID
    cells = sweep.expand(grid, FIXED, METHODS)
    seconds = {}
    for label, kwargs in (("serial", {}), ("loky -j 2", {"jobs": 2}), ("dask LocalCluster 2 workers", {"dask_local": 2})):
        with tempfile.TemporaryDirectory() as store, workspace.using(cache_dir=store):
            seconds[label], (_, counts) = timed(lambda: sweep.run_sweep(cells, **kwargs))
            if label == "serial":
                cached, _ = timed(lambda: sweep.run_sweep(cells))
    total = len(cells) + len({c.config for c in cells})
    return {"cells": len(cells), "cells_with_references": total, "seconds": seconds,
            "ratio_to_serial": {k: v / seconds["serial"] for k, v in seconds.items()},
            "cached_cell_s": cached / total}
