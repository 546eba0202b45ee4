"""Independent methods in worker processes: the same numbers as a serial run, each cached on its own."""

import numpy as np
import pytest

from factories import SMALL
from core import cache, parallel, pipeline, progress, workspace
from core.config import ConfigError

METHODS = ["lanczos", "hutchinson", "pyhessian_top_k", "diag_hessian", "kfac", "exact_ggn"]


def _numbers(result):
    return [np.asarray(v, dtype=float) for v in (result.spectrum, result.top, result.trace) if v is not None]


def test_methods_in_two_workers_equal_a_serial_run_and_are_each_cached(tmp_path):
    with workspace.using(cache_dir=tmp_path / "serial"):
        serial = pipeline.results_for(SMALL, METHODS, 30, workers=1)
    with workspace.using(cache_dir=tmp_path / "parallel"):
        cache.COMPUTE_COUNTS.clear()
        stages = []
        with progress.listening(lambda counts: stages.append(counts.stage)):
            found = pipeline.results_for(SMALL, METHODS, 30, workers=2)
        assert list(found) == list(serial) == pipeline.selection(METHODS)
        announced = list(dict.fromkeys((s.text, s.index, s.total) for s in stages if s is not None))
        assert [text for text, _, _ in announced[:2]] == ["Exact Hessian", "Exact GGN"]  # here, while the workers work
        assert [i for _, i, _ in announced] == list(range(len(METHODS) + 1))
        # the farmed methods were computed elsewhere (this process counted none of them), yet are cached
        assert cache.COMPUTE_COUNTS["exact_hessian"] == 1 and cache.COMPUTE_COUNTS["lanczos"] == 0
        for name in METHODS:
            assert pipeline.is_cached(SMALL, name, found[name].options), name
    from joblib import Parallel, delayed  # the sweeps' executor still works beside our pool
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor(reuse=True).shutdown(wait=True)  # leave no executor set up for other tests
    for name in found:
        assert found[name].ok and serial[name].ok, name
        for ours, theirs in zip(_numbers(found[name]), _numbers(serial[name]), strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_worker_count_follows_the_cores_and_a_bad_setting_is_refused(monkeypatch):
    monkeypatch.delenv(parallel.WORKERS_ENV, raising=False)
    assert parallel.workers(cores=2) == 1 and parallel.workers(cores=3) == 1 and parallel.workers(cores=16) == 8
    monkeypatch.setenv(parallel.WORKERS_ENV, "3")
    assert parallel.workers(cores=4) == 3
    with pytest.raises(ConfigError, match=r"from 1 to 2 \(this machine's cores\)"):
        parallel.workers(cores=2)  # more processes than cores only contend for them
    for bad in ("0", "two", "-1", "1000"):
        monkeypatch.setenv(parallel.WORKERS_ENV, bad)
        with pytest.raises(ConfigError, match=r"\$HESSIAN_WORKERS=.* whole number of worker processes from 1 to"):
            parallel.workers(cores=8)
