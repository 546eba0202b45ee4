"""The first answer now, the rest in a background process (core.background, pipeline.split_first_answers)."""

import os
import time

import pytest
import torch

from core import background, cache, pipeline, workspace
from core.methods import REFERENCE, options_for
from factories import SMALL


def test_the_split_leaves_only_slow_uncached_methods_for_later(fresh_cache, monkeypatch):
    methods = ["hutchinson", "lanczos", "pyhessian_top_k", "kfac"]
    now, later, quick = pipeline.split_first_answers(SMALL, methods, 20)
    # a tiny problem: everything answers at once, whole (no job, so no first forms)
    assert later == [] and quick == {} and now == pipeline.selection(methods)
    monkeypatch.setattr(pipeline, "FIRST_ANSWER_SECONDS", 0.0)  # as if every method were slow
    monkeypatch.setattr(pipeline, "FIRST_ANSWER_BOUND_SECONDS", 0.0)
    now, later, quick = pipeline.split_first_answers(SMALL, methods, 20)
    assert "lanczos" in now  # the certified reference the first answer is measured against
    assert {REFERENCE, "hutchinson", "pyhessian_top_k", "kfac"} == set(later) - {"lanczos"}
    # a job starts anyway: Lanczos's top end now, both ends at the end of the job
    assert quick == {"lanczos": {**options_for("lanczos", 20), "bottom": False}} and later[-1] == "lanczos"
    pipeline.run(SMALL, "hutchinson", options_for("hutchinson", 20))
    pipeline.run(SMALL, "lanczos", options_for("lanczos", 20))
    now, later, quick = pipeline.split_first_answers(SMALL, methods, 20)
    assert "hutchinson" in now and "lanczos" in now  # cached: served now, whole
    assert "lanczos" not in later and quick == {}


def test_a_first_form_is_computed_now_and_its_full_result_replaces_it(fresh_cache, monkeypatch):
    """Lanczos's first form (its top end) against its full result and the exact spectrum: the same
    certified top values from fewer products, no bottom end; the full result is what is served
    once cached."""
    import numpy as np

    monkeypatch.setattr(pipeline, "FIRST_ANSWER_SECONDS", 0.0)
    monkeypatch.setattr(pipeline, "FIRST_ANSWER_BOUND_SECONDS", 0.0)
    config = SMALL.replace(hidden=(12,))
    now, later, quick = pipeline.split_first_answers(config, ["lanczos"], 20)
    first = pipeline.results_for(config, now, 20, reference=False, options=quick)["lanczos"]
    assert first.ok and first.bottom is None and first.options["bottom"] is False
    full = pipeline.run(config, "lanczos", options_for("lanczos", 20))
    exact = pipeline.run(config, REFERENCE, options_for(REFERENCE, 20))
    assert first.matvecs < full.matvecs and full.bottom is not None
    k = len(first.top)
    assert np.allclose(first.top, exact.top[:k], rtol=0, atol=float(first.top_residuals.max()) + 1e-6)
    assert np.allclose(first.top, full.top[:k], rtol=1e-4, atol=1e-6)
    assert pipeline.results_for(config, ["lanczos"], 20, reference=False)["lanczos"].bottom is not None


def test_a_first_form_must_set_options_the_method_has():
    from dataclasses import replace

    from core.methods import get_spec
    from core.methods.registry import REGISTRY, register

    spec = replace(get_spec("lanczos"), name="lanczos_first_form_check", first_answer={"bottm": False})
    with pytest.raises(ValueError, match="bottm"):
        register(spec)
    assert "lanczos_first_form_check" not in REGISTRY


def test_a_job_lands_its_methods_in_the_cache_as_a_foreground_run_would(fresh_cache):
    pipeline.train(SMALL)
    options = {name: options_for(name, 20) for name in (REFERENCE, "hutchinson")}
    job = background.Job(SMALL, [REFERENCE, "hutchinson"], options).start()
    job.release()
    deadline = time.monotonic() + 120
    while job.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not job.running() and job.errors() == {} and job.status()[2] == 2
    assert all(pipeline.is_cached(SMALL, name, options[name]) for name in options)
    served = pipeline.run(SMALL, REFERENCE, options[REFERENCE])
    assert cache.COMPUTE_COUNTS[REFERENCE] == 0  # computed in the job's process, read here
    with workspace.using(cache_dir=fresh_cache.parent / "other"):
        again = pipeline.run(SMALL, REFERENCE, options[REFERENCE])
    assert (again.spectrum == served.spectrum).all()  # the same numbers a foreground run gives


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the job's priority from Linux's /proc")
def test_a_job_started_before_training_waits_for_the_pages_training_behind_the_foreground(fresh_cache):
    """A page starts its job first, then trains: the job's interpreter starts meanwhile at a lower
    priority, then waits on the training's lock and uses that model (one training in all)."""
    options = {REFERENCE: options_for(REFERENCE, 20)}
    job = background.Job(SMALL, [REFERENCE], options).start()

    def nice():
        return int(open(f"/proc/{job._process.pid}/stat").read().rsplit(")", 1)[1].split()[16])

    deadline = time.monotonic() + 5
    while nice() != background.NICE and time.monotonic() < deadline:  # set once it has read its job
        time.sleep(0.05)
    assert background.NICE > 0 and nice() == background.NICE
    trained = pipeline.train(SMALL)
    job.release()  # the page has drawn its first answer
    deadline = time.monotonic() + 120
    while job.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not job.running() and job.errors() == {}
    assert cache.COMPUTE_COUNTS["train"] == 1  # trained here, before the job reached the model
    result = pipeline.run(SMALL, REFERENCE, options[REFERENCE])
    assert cache.COMPUTE_COUNTS[REFERENCE] == 0 and result.ok
    again = pipeline.build_problem(SMALL).flat_params()
    assert (again == torch.cat([torch.as_tensor(v).reshape(-1) for v in trained.state.values()])).all()


def test_a_pages_job_holds_until_released_or_its_hold_has_passed(fresh_cache, monkeypatch):
    """Started while the page trains, it imports and then waits: it computes once the page has
    drawn (released), or after :data:`core.background.HOLD_SECONDS` when nobody releases it."""
    pipeline.train(SMALL)
    options = {REFERENCE: options_for(REFERENCE, 20)}
    held = background.Job(SMALL, [REFERENCE], options).start()
    time.sleep(4)  # its imports take about 2 s: by now it would be done (test above: about 3 s in all)
    assert held.running() and held.status() == (None, 0.0, 0) and not pipeline.is_cached(SMALL, REFERENCE, options[REFERENCE])
    held.release()
    deadline = time.monotonic() + 120
    while held.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held.status()[2] == 1 and pipeline.is_cached(SMALL, REFERENCE, options[REFERENCE])
    monkeypatch.setattr(background, "HOLD_SECONDS", 1.0)
    other = {"lanczos": options_for("lanczos", 20)}
    forgotten = background.Job(SMALL, ["lanczos"], other).start()  # never released
    deadline = time.monotonic() + 120
    while forgotten.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert forgotten.status()[2] == 1 and pipeline.is_cached(SMALL, "lanczos", other["lanczos"])


def test_a_cancelled_job_stops_at_once_and_keeps_nothing_half_done(fresh_cache):
    pipeline.train(SMALL)
    slow = SMALL.replace(hidden=(600,))  # P = 9,610: half a minute of dense work, never finished here
    pipeline.train(slow)
    options = {REFERENCE: options_for(REFERENCE, 20)}
    job = background.Job(slow, [REFERENCE], options).start()
    job.release()
    deadline = time.monotonic() + 60
    while job.status()[0] != REFERENCE and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.status()[0] == REFERENCE and job.running()
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 6 and not job.running()
    assert not pipeline.is_cached(slow, REFERENCE, options[REFERENCE])


def test_a_pending_placeholder_is_not_a_failure_of_the_method():
    placeholder = background.pending_result(REFERENCE, options_for(REFERENCE, 20))
    assert background.is_pending(placeholder) and not placeholder.ok
    from core.tables import reference

    _, words = reference({REFERENCE: placeholder})
    assert "is still computing" in words


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (absent, or a zombie nobody has reaped yet)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the processes' states from Linux's /proc")
def test_a_job_whose_server_is_killed_exits_instead_of_computing_on(fresh_cache):
    """A server stopped with Ctrl-C or killed leaves no job behind keeping a core busy."""
    import signal
    import subprocess
    import sys

    slow = SMALL.replace(hidden=(600,))  # half a minute of dense work: still computing when its parent goes
    pipeline.train(slow)
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from core import background, config; from core.methods import REFERENCE, options_for; "
         "slow = config.ExperimentConfig.from_dict(__import__('json').loads(sys.argv[1])); "
         "job = background.Job(slow, [REFERENCE], {REFERENCE: options_for(REFERENCE, 20)}).start(); job.release(); "
         "print(job._process.pid, flush=True); time.sleep(600)", __import__("json").dumps(slow.to_dict())],
        stdout=subprocess.PIPE, cwd=str(workspace.PROJECT_DIR),
        env={**os.environ, workspace.CACHE_DIR_ENV: str(fresh_cache)})
    job_pid = None
    try:
        job_pid = int(server.stdout.readline())
        time.sleep(3)  # the job has read its task and computes
        assert not _gone(job_pid)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not _gone(job_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(job_pid), "the job outlived the process that started it"
    finally:
        server.kill()
        if job_pid and not _gone(job_pid):
            os.kill(job_pid, signal.SIGKILL)
    assert not pipeline.is_cached(slow, REFERENCE, options_for(REFERENCE, 20))
