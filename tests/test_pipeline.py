"""The cached API: hits, corruption, concurrent writers, the budget, determinism."""

import json
import subprocess
import sys

import numpy as np
import pytest

from factories import SMALL
from core import cache, pipeline, workspace
from core.budget import Budget, BudgetExceeded, check_dense, estimate_dense
from core.shapes import Size


def test_cache_hit_returns_identical_arrays_without_recomputation(fresh_cache):
    first = pipeline.run(SMALL, "exact_hessian")
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 1 and cache.COMPUTE_COUNTS["train"] == 1
    second = pipeline.run(SMALL, "exact_hessian")
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 1 and cache.COMPUTE_COUNTS["train"] == 1
    assert np.array_equal(first.spectrum, second.spectrum) and first.trace == second.trace
    assert pipeline.is_cached(SMALL, "exact_hessian")
    pipeline.run(SMALL.replace(seed=1), "exact_hessian")  # another key computes
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 2


def test_corrupt_cache_entry_is_recomputed(fresh_cache):
    first = pipeline.run(SMALL, "exact_hessian")
    outputs = list(fresh_cache.rglob("*.pkl"))
    assert outputs
    for path in outputs:
        path.write_bytes(b"\x80\x04 truncated garbage")
    again = pipeline.run(SMALL, "exact_hessian")
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 2
    assert np.array_equal(first.spectrum, again.spectrum)
    third = pipeline.run(SMALL, "exact_hessian")  # the rewritten entry is served
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 2 and np.array_equal(third.spectrum, first.spectrum)


def test_two_processes_computing_the_same_entry_leave_one_consistent_result(tmp_path):
    script = (
        "import sys, json\n"
        "from core import pipeline, workspace\nfrom core.config import ExperimentConfig\n"
        "workspace.use(cache_dir=%r)\n"
        "r = pipeline.run(ExperimentConfig.from_dict(json.loads(sys.argv[1])), 'exact_hessian')\n"
        "print(json.dumps(r.spectrum.tolist()))\n" % str(tmp_path / "shared-cache"))
    arg = json.dumps(SMALL.to_dict())
    procs = [subprocess.Popen([sys.executable, "-c", script, arg], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outputs]
    spectra = [json.loads(o[0].strip().splitlines()[-1]) for o in outputs]
    assert spectra[0] == spectra[1]
    with workspace.using(cache_dir=tmp_path / "shared-cache"):
        cache.COMPUTE_COUNTS.clear()
        served = pipeline.run(SMALL, "exact_hessian")
        assert cache.COMPUTE_COUNTS["exact_hessian"] == 0
        assert served.spectrum.tolist() == spectra[0]


def test_over_budget_is_refused_with_estimate_and_advice_and_nothing_computed(fresh_cache, monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_GIB", "0.0001")  # P = 106: the dense 1.3e-4 GiB is over, Lanczos fits
    result = pipeline.run(SMALL, "exact_hessian")
    assert not result.ok and result.spectrum is None
    for words in ("refused", "GiB", "P = ", "narrower", "input size", "approximations still run"):
        assert words in result.error
    # the approximations still run under the same budget
    assert pipeline.run(SMALL, "lanczos", {"k": 3}).ok
    # a refusal is decided against the budget in force, never served from the cache
    monkeypatch.setenv("HESSIAN_MAX_GIB", "100")
    assert pipeline.run(SMALL, "exact_hessian").ok


def test_budget_estimate_and_error():
    e = estimate_dense(Size(6370, 1000))
    assert 0.3 < e.gib < 1.0 and 5 < e.seconds < 60
    with pytest.raises(BudgetExceeded, match="largest P admitted"):
        check_dense(Size(100_000, 1000), budget=Budget(max_gib=12, max_seconds=600))
    check_dense(Size(6370, 1000), budget=Budget(max_gib=12, max_seconds=600))


def test_every_registered_method_runs_and_gives_the_same_numbers_in_a_fresh_store(tmp_path):
    from core.methods import REGISTRY

    runs = []
    for store in ("a", "b"):
        with workspace.using(cache_dir=tmp_path / store):
            runs.append({name: pipeline.run(SMALL, name) for name in REGISTRY})
    for name in REGISTRY:
        a, b = runs[0][name], runs[1][name]
        assert a.ok, (name, a.error)
        assert a.trace == b.trace, name
        if a.top is not None:
            np.testing.assert_array_equal(a.top, b.top, err_msg=name)
        if a.samples is not None:
            np.testing.assert_array_equal(a.samples, b.samples, err_msg=name)
    with workspace.using(cache_dir=tmp_path / "a"):
        first = pipeline.train(SMALL)
    with workspace.using(cache_dir=tmp_path / "b"):
        second = pipeline.train(SMALL)
    for key in first.state:
        assert np.array_equal(first.state[key], second.state[key])
    assert first.num_params == 5 * 6 + 6 + 6 * 10 + 10


def test_a_cnn_is_costed_by_its_convolutions_not_its_parameter_count(fresh_cache):
    """A CNN's products cost N x (forward multiply-adds), not N x P: a digits CNN with two
    32-channel blocks (P = 10,858, 166k multiply-adds an example) is refused for its exact
    Hessian, before any training, while an MLP of about the same P (11,260) is admitted."""
    from core.config import ExperimentConfig

    cnn = ExperimentConfig(architecture="cnn", dataset="digits", hidden=(32, 32), hessian_batch_size=1000)
    mlp = ExperimentConfig(dataset="digits", hidden=(150,), hessian_batch_size=1000)
    size_cnn, size_mlp = pipeline.size(cnn), pipeline.size(mlp)
    assert size_cnn.num_params == 10_858 and size_mlp.num_params == 11_260
    assert size_cnn.forward_macs > 10 * size_cnn.num_params and size_mlp.path == "fast"
    result = pipeline.run(cnn, "exact_hessian")
    assert not result.ok and "refused" in result.error and "fewer channels" in result.error
    assert cache.COMPUTE_COUNTS["train"] == 0
    pipeline.check(mlp, "exact_hessian")  # admitted (not run: it would take a minute)
    # the matrix-free methods are costed the same way, and still fit
    pipeline.check(cnn, "hutchinson", {"samples": 10})


def test_training_over_the_budget_is_refused_before_it_starts(fresh_cache, monkeypatch):
    from core.budget import BudgetExceeded
    from core.config import ExperimentConfig

    long = ExperimentConfig(dataset="digits", hidden=(64,), epochs=1000, hessian_batch_size=100)
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "20")
    result = pipeline.run(long, "lanczos")
    assert not result.ok and "Training is refused" in result.error and "fewer epochs" in result.error
    with pytest.raises(BudgetExceeded, match="Training is refused"):
        pipeline.train(long)
    assert cache.COMPUTE_COUNTS["train"] == 0
    short = long.replace(epochs=2)  # the estimate scales with the epochs
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "1e9")
    ratio = pipeline.check_training(long).seconds / pipeline.check_training(short).seconds
    assert ratio == pytest.approx(500, rel=1e-6)
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "20")
    assert pipeline.run(short, "hutchinson", {"samples": 5}).ok


class Interrupted(Exception):
    """What Streamlit's stop or rerun request is to core: an exception from the progress listener."""


@pytest.mark.parametrize("method", ["lanczos", "exact_hessian", "pyhessian_top_k"])
def test_a_computation_stopped_mid_method_caches_nothing_and_recomputes_cleanly(fresh_cache, method):
    from core import progress

    pipeline.train(SMALL)  # trained first, so the interruption lands inside the method
    calls = []

    def stop_on_first_report(counts):
        calls.append(counts["products"])
        raise Interrupted

    with pytest.raises(Interrupted), progress.listening(stop_on_first_report, interval=0.0):
        pipeline.run(SMALL, method)
    assert calls[-1] > 0  # stopped after some products, before the method returned
    assert not pipeline.is_cached(SMALL, method)
    assert not list(fresh_cache.rglob("*.tmp"))
    with progress.listening(lambda counts: None) as counts:
        finished = pipeline.run(SMALL, method)
    assert finished.ok and counts["products"] >= calls[-1]  # all of it again: nothing was kept
    with workspace.using(cache_dir=fresh_cache.parent / "another"):
        reference = pipeline.run(SMALL, method)
    np.testing.assert_array_equal(finished.top if finished.top is not None else finished.spectrum,
                                  reference.top if reference.top is not None else reference.spectrum)


def test_without_a_listener_ticks_cost_nothing_and_training_reports_its_steps(fresh_cache):
    from core import progress

    progress.tick(5)  # no listener: nothing happens
    with progress.listening(lambda counts: None, interval=0.0) as counts:
        pipeline.train(SMALL)
    assert counts["training steps"] == SMALL.epochs * SMALL.steps_per_epoch(SMALL.train_subset)


def test_a_trace_study_over_the_budget_is_refused_before_any_product(fresh_cache, monkeypatch):
    from core import studies
    from core.budget import BudgetExceeded
    from core.methods import estimate

    pipeline.train(SMALL)  # trained under the default budget; the study is what is refused below
    cost = lambda samples: estimate("hutchinson", {"samples": samples}, pipeline.size(SMALL)).seconds
    # 40 samples fit, and the 80 of two repeats; the 400 of ten do not
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", repr((cost(80) + cost(400)) / 2))
    assert pipeline.run(SMALL, "hutchinson", {"samples": 40}).ok
    for study in (studies.hutchinson_study, studies.trace_study):
        with pytest.raises(BudgetExceeded, match=r"Hutchinson.* study \(10 repeats, 400 products\) is refused"):
            study(SMALL, 40, 10)
    assert cache.COMPUTE_COUNTS["hutchinson_study"] == 0 and cache.COMPUTE_COUNTS["hutchpp_study"] == 0
    assert studies.hutchinson_study(SMALL, 40, 2)["repeats"] == 2  # 80 products fit
    # Hutch++ runs at every product count up to the samples: its study is costed by their sum
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", repr(cost(0) + (cost(80) - cost(0)) * 1.01))  # the fixed part, and 80
    studies.hutchinson_study(SMALL, 40, 2)  # cached: no check, no work
    with pytest.raises(BudgetExceeded, match=r"Hutch\+\+.* study \(2 repeats, [0-9,]+ products\) is refused"):
        studies.trace_study(SMALL, 40, 2)
    assert cache.COMPUTE_COUNTS["hutchpp_study"] == 0


def test_a_run_with_another_thread_count_is_its_own_cache_entry(fresh_cache, monkeypatch):
    """Trained weights can differ in the last bits with torch's thread count, so the count is a
    configuration field (default: $HESSIAN_THREADS or the processors available), part of every key."""
    one, two = SMALL.replace(threads=1), SMALL.replace(threads=2)
    pipeline.run(one, "hutchinson", {"samples": 10})
    assert pipeline.is_trained(one) and not pipeline.is_trained(two)
    assert not pipeline.is_cached(two, "hutchinson", {"samples": 10})
    monkeypatch.setenv("HESSIAN_THREADS", "1")
    from core.config import ExperimentConfig

    assert ExperimentConfig.from_dict({k: v for k, v in SMALL.to_dict().items() if k != "threads"}).threads == 1
    import torch

    before = torch.get_num_threads()
    with pipeline.computing(one):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_method_that_crashes_is_its_own_line_and_the_others_are_drawn(fresh_cache, monkeypatch):
    from core.methods import cannot_run_reason, registry

    load = registry.MethodSpec.load

    def crashing(spec):
        if spec.name != "kfac":
            return load(spec)

        def crash(problem, options):
            raise RuntimeError("a library crashed\nwith a second line")
        return crash

    monkeypatch.setattr(registry.MethodSpec, "load", crashing)
    found = pipeline.results_for(SMALL, ["kfac", "hutchinson", "lanczos"], 20, workers=1)
    assert not found["kfac"].ok and found["hutchinson"].ok and found["lanczos"].ok and found["exact_hessian"].ok
    reason = cannot_run_reason(found["kfac"].error)
    assert reason == "it failed on this problem (RuntimeError: a library crashed)"
    monkeypatch.setattr(registry.MethodSpec, "load", load)
    assert pipeline.results_for(SMALL, ["kfac"], 20, workers=1)["kfac"].ok  # not cached: tried again
