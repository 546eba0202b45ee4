"""Ahead of the user (core.ahead): the likeliest next settings, computed at idle priority."""

import os
import time

import pytest

from core import ahead, cache, pipeline
from core.config import MAX_WIDTH
from core.methods import REFERENCE
from factories import SMALL


def test_the_neighbours_are_one_control_away_valid_distinct_and_likeliest_first():
    found = ahead.neighbours(SMALL, limit=4)
    assert [change for change, _ in found] == [change for change, _ in ahead.NEIGHBOUR_RULES]
    wider, other_activation, other_loss, narrower = (config for _, config in found)
    assert wider == SMALL.replace(hidden=tuple(2 * w for w in SMALL.hidden))
    assert other_activation == SMALL.replace(activation="tanh" if SMALL.activation == "relu" else "relu")
    assert other_loss.loss != SMALL.loss and other_loss.replace(loss=SMALL.loss) == SMALL
    assert narrower == SMALL.replace(hidden=tuple(max(w // 2, 1) for w in SMALL.hidden))
    assert len(ahead.neighbours(SMALL)) == ahead.MAX_NEIGHBOURS
    widest = SMALL.replace(hidden=(MAX_WIDTH,))  # no wider one: skipped, not repeated
    assert all(config.hidden[0] <= MAX_WIDTH and config != widest for _, config in ahead.neighbours(widest, 4))
    assert "width ×2" not in [change for change, _ in ahead.neighbours(widest, 4)]


def test_the_plan_leaves_out_what_is_cached_and_what_the_budget_would_not_train(fresh_cache, monkeypatch):
    methods, samples = ["hutchinson", "lanczos"], 20
    tasks = ahead.plan(SMALL, methods, samples, limit=2)
    assert [t["change"] for t in tasks] == [ahead.OWN_REST, "width ×2", "the other activation"]
    assert all(t["methods"] == pipeline.selection(methods) for t in tasks)
    pipeline.results_for(SMALL, methods, samples)  # this setting whole: no "rest of it"
    wider = tasks[1]["config"]
    pipeline.results_for(wider, ["hutchinson"], samples)  # the wider one: two of three cached
    tasks = ahead.plan(SMALL, methods, samples, limit=2)
    assert [t["change"] for t in tasks] == ["width ×2", "the other activation"]
    assert tasks[0]["methods"] == ["lanczos"]
    refused = tasks[1]["config"]
    monkeypatch.setattr(pipeline, "training_admitted", lambda config: config != refused)
    assert [t["change"] for t in ahead.plan(SMALL, methods, samples, limit=2)] == ["width ×2"]


def test_the_job_runs_at_the_lowest_priority_and_lands_each_result_in_the_cache(fresh_cache):
    tasks = ahead.plan(SMALL, ["hutchinson"], 20, limit=2)
    job = ahead.AheadJob(SMALL, tasks).start()
    pid = job._process.pid
    deadline, niceness = time.monotonic() + 30, None
    while job.running() and time.monotonic() < deadline and niceness != ahead.NICE:
        try:
            niceness = os.getpriority(os.PRIO_PROCESS, pid)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    assert niceness == ahead.NICE, "the process lowers its own priority before any work"
    deadline = time.monotonic() + 240
    while job.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not job.running() and job.errors() == {} and job.status()[2] == 2 * len(tasks)
    for task in tasks:
        for name in task["methods"]:
            assert pipeline.is_cached(task["config"], name, task["options"][name]), (task["change"], name)
    assert cache.COMPUTE_COUNTS[REFERENCE] == 0  # all of it in the job's process
    assert ahead.plan(SMALL, ["hutchinson"], 20, limit=2) == []


def test_the_app_computes_ahead_once_idle_and_stops_when_a_control_changes(fresh_cache, monkeypatch):
    from test_app import app

    from app.widgets import AHEAD_JOB_KEY

    monkeypatch.setenv("HESSIAN_AHEAD", "1")
    at = app()
    job = at.session_state[AHEAD_JOB_KEY]
    try:
        assert not at.exception and job.running()
        assert "width ×2" in job.changes() and job.config.hidden == (6,)
        assert "Computing ahead at idle priority" in " ".join(c.value for c in at.sidebar.caption)
        at.sidebar.text_input(key="cfg_hidden").set_value("5").run()  # the user acts: stopped at once
        assert not job.running()
        assert not at.exception and at.session_state[AHEAD_JOB_KEY].config.hidden == (5,)
        at.sidebar.toggle(key="ahead_on").set_value(False).run()
        assert AHEAD_JOB_KEY not in at.session_state
    finally:
        job.cancel()
        if AHEAD_JOB_KEY in at.session_state:
            at.session_state[AHEAD_JOB_KEY].cancel()


def test_nothing_is_computed_ahead_for_a_page_that_does_not_show_the_configuration(fresh_cache, monkeypatch):
    from test_app import OWN_PAGE, app

    from app.widgets import AHEAD_JOB_KEY

    monkeypatch.setenv("HESSIAN_AHEAD", "1")
    monkeypatch.setattr("sys.argv", ["app/Home.py", "--model", "examples.own_models:build"])
    at = app(OWN_PAGE)
    if AHEAD_JOB_KEY in at.session_state:  # started by Home, which the helper draws first: stopped on no change,
        at.session_state[AHEAD_JOB_KEY].cancel()  # so cancelled here, and Your model must not start another
        del at.session_state[AHEAD_JOB_KEY]
    at.run()
    assert not at.exception and AHEAD_JOB_KEY not in at.session_state


def test_a_background_job_whose_results_have_all_landed_does_not_keep_the_app_from_computing_ahead(fresh_cache):
    """The page's last redraw comes when the last result lands, while the job's process may still be
    exiting: that job has nothing left, so the app is idle."""
    from app.widgets import _still_computing
    from core import background
    from core.methods import options_for

    options = {"hutchinson": options_for("hutchinson", 20)}
    job = background.Job(SMALL, ["hutchinson"], options)
    job.running = lambda: True  # alive, as while its interpreter exits
    assert _still_computing(job)
    pipeline.run(SMALL, "hutchinson", options["hutchinson"])
    assert not _still_computing(job) and not _still_computing(None)
