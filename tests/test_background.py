"""The first answer now, the rest in a background process (core.background, pipeline.split_first_answers)."""

import time

from core import background, cache, pipeline, workspace
from core.methods import REFERENCE, options_for
from factories import SMALL


def test_the_split_leaves_only_slow_uncached_methods_for_later(fresh_cache, monkeypatch):
    methods = ["hutchinson", "lanczos", "pyhessian_top_k", "kfac"]
    now, later = pipeline.split_first_answers(SMALL, methods, 20)
    assert later == [] and now == pipeline.selection(methods)  # a tiny problem: everything answers at once
    monkeypatch.setattr(pipeline, "FIRST_ANSWER_SECONDS", 0.0)  # as if every method were slow
    monkeypatch.setattr(pipeline, "FIRST_ANSWER_BOUND_SECONDS", 0.0)
    now, later = pipeline.split_first_answers(SMALL, methods, 20)
    assert "lanczos" in now  # the certified reference the first answer is measured against
    assert {REFERENCE, "hutchinson", "pyhessian_top_k", "kfac"} == set(later)
    pipeline.run(SMALL, "hutchinson", options_for("hutchinson", 20))
    now, later = pipeline.split_first_answers(SMALL, methods, 20)
    assert "hutchinson" in now  # cached: served now


def test_a_job_lands_its_methods_in_the_cache_as_a_foreground_run_would(fresh_cache):
    pipeline.train(SMALL)
    options = {name: options_for(name, 20) for name in (REFERENCE, "hutchinson")}
    job = background.Job(SMALL, [REFERENCE, "hutchinson"], options).start()
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


def test_a_cancelled_job_stops_at_once_and_keeps_nothing_half_done(fresh_cache):
    pipeline.train(SMALL)
    slow = SMALL.replace(hidden=(600,))  # P = 9,610: half a minute of dense work, never finished here
    pipeline.train(slow)
    options = {REFERENCE: options_for(REFERENCE, 20)}
    job = background.Job(slow, [REFERENCE], options).start()
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
