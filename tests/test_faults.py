"""A run killed at any moment leaves nothing that is served wrong (SIGKILL during the
computation and during the cache write), and the next run gives the clean run's numbers."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from core import pipeline, workspace
from factories import SMALL

SCRIPT = """
import json, sys, time
from core import cache, pipeline, workspace
from core.config import ExperimentConfig
workspace.use(cache_dir=sys.argv[1])
stage = sys.argv[2]
if stage == "compute":
    import core.curvature.dense as dense
    real = dense.spectrum
    def slow(*a, **k):
        print("computing", flush=True); time.sleep(120); return real(*a, **k)
    dense.spectrum = slow
elif stage == "write":
    real_replace = cache.os.replace
    def slow_replace(src, dst):
        print("writing", flush=True); time.sleep(120); real_replace(src, dst)
    cache.os.replace = slow_replace
pipeline.run(ExperimentConfig.from_dict(json.loads(sys.argv[3])), "exact_hessian")
"""


@pytest.mark.parametrize("stage", ["compute", "write"])
def test_a_run_killed_mid_way_leaves_no_wrong_entry(tmp_path, stage):
    store = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(store), stage, json.dumps(SMALL.to_dict())],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # waits until the run is inside the stage
    assert line.strip() in ("computing", "writing")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert list((store / "run").rglob("*.pkl")) == []  # no entry for the killed computation
    if stage == "write":
        assert list(store.rglob(".*.tmp"))  # only a temporary file (of the training entry), never served
    with workspace.using(cache_dir=store):
        again = pipeline.run(SMALL, "exact_hessian")
    with workspace.using(cache_dir=tmp_path / "clean"):
        clean = pipeline.run(SMALL, "exact_hessian")
    assert np.array_equal(again.spectrum, clean.spectrum) and again.trace == clean.trace
