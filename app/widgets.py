"""What pages share besides the sidebar: results with progress, notices, downloads, guarding.

Nothing here computes curvature: it asks ``core`` and shows progress while ``core`` works.
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager

import streamlit as st

from app.sidebar import Selection
from app.text import literal
from core import background, library_warnings, pipeline, progress
from core.budget import BudgetExceeded
from core.config import FILE_DATASETS, ConfigError
from core.methods import REGISTRY, MethodError, cannot_run_reason, options_for
from core.results import Result

library_warnings.quiet()


def results(selection: Selection, methods=None, progressive: bool = True) -> dict[str, Result]:
    """The results of ``methods`` (default: the selection's) plus the exact Hessian.

    Served from the cache when they are there. Otherwise the first answers are computed now with
    a progress bar (training, then the fast methods: :func:`core.pipeline.split_first_answers`,
    some in a cheaper first form, Lanczos's top end alone) and, when ``progressive`` and
    :func:`progressive_on`, the slow ones go to a background process of this session
    (:mod:`core.background`): they come back as pending placeholders, a line says
    what is still computing, and the page redraws when they land. A changed configuration cancels
    the old background work. The dataset notice and every method that could not run are shown.
    """
    config, samples = selection.config, selection.samples
    methods = selection.methods if methods is None else methods
    job = st.session_state.get(JOB_KEY)
    if job is not None and job.config != config:  # a changed control abandons the old configuration's work
        job.cancel()
        st.session_state.pop(JOB_KEY, None)
        job = None
    if not pipeline.missing(config, methods, samples) and pipeline.is_trained(config):
        found = pipeline.results_for(config, methods, samples)
        notices(selection, found)
        return found
    later, quick = [], {}
    if progressive and progressive_on() and pipeline.training_admitted(config):
        with working("Estimating what answers first…"):
            now, later, quick = pipeline.split_first_answers(config, methods, samples)
        if later and job is not None and job.covers(config, later) and not job.running():
            now, later, quick = now + later, [], {}  # the job ended without them (a crash): computed here, and said why
    else:
        now = pipeline.selection(methods)
    if later:  # started first: its interpreter starts while this one trains (it then waits on the training's lock)
        options = {name: options_for(name, samples) for name in later}
        if job is None or not job.covers(config, later):
            if job is not None:
                job.cancel()
            job = st.session_state[JOB_KEY] = background.Job(config, later, options).start()
    with progress_box("Training and computing; results are cached for next time. Stop (top right) or a "
                      "changed control interrupts it; nothing half-done is kept.", "Training the network"):
        if not pipeline.is_trained(config) and pipeline.training_admitted(config):
            pipeline.train(config)  # its own step (else the first method's); over budget, each method says so
        found = pipeline.results_for(config, now, samples, reference=False, options=quick)
    if later:
        found.update({name: background.pending_result(name, options[name]) for name in later if name not in quick})
        found = {name: found[name] for name in pipeline.selection(methods)}
        pending_line(job, config, later, samples, quick)
    else:
        st.toast("Results ready, and cached for next time", icon=":material/check_circle:")
    notices(selection, found)
    return found


#: where a session keeps its background job (:class:`core.background.Job`)
JOB_KEY = "_background_job"
#: where a session keeps the job computing ahead of it (:class:`core.ahead.AheadJob`)
AHEAD_JOB_KEY = "_ahead_job"


def _still_computing(job) -> bool:
    """Whether the session's background job has work left: alive with a method not yet in the cache
    (a job whose every result has landed may still be exiting; the page's last redraw comes then)."""
    return job is not None and job.running() and any(
        not pipeline.is_cached(job.config, name, job.options[name]) for name in job.methods)


def stop_ahead_if_changed(selection: Selection) -> None:
    """At the start of every run: the job computing ahead stops at once when the configuration it
    was started for is no longer the selection's (the user acted), or the switch is off."""
    job = st.session_state.get(AHEAD_JOB_KEY)
    if job is not None and (job.config != selection.config or not selection.ahead):
        job.cancel()
        st.session_state.pop(AHEAD_JOB_KEY, None)


def compute_ahead_when_idle(selection: Selection) -> None:
    """After a page has drawn whole: when the switch is on and nothing of this session is computing,
    start :class:`core.ahead.AheadJob` on :func:`core.ahead.plan` (the likeliest next settings, and
    what the other pages of this one still need), and say in the sidebar what it computes."""
    from core import ahead

    if not selection.ahead:
        return
    job = st.session_state.get(AHEAD_JOB_KEY)
    if job is None:
        if _still_computing(st.session_state.get(JOB_KEY)):
            return
        tasks = ahead.plan(selection.config, selection.methods, selection.samples)
        if not tasks:
            return
        job = st.session_state[AHEAD_JOB_KEY] = ahead.AheadJob(selection.config, tasks).start()
    with st.sidebar:
        _ahead_status(job)


@st.fragment(run_every=2.0)
def _ahead_status(job) -> None:
    """What the job computing ahead does, redrawn every 2 s (only this line): running, or done."""
    changes = ", ".join(job.changes())
    if job.running():
        st.caption(f":material/fast_forward: Computing ahead at idle priority, cached for when you pick it: {changes}. "
                   "It stops when you change a control.")
    else:
        st.caption(f":material/fast_forward: Computed ahead and cached: {changes}.")


def progressive_on() -> bool:
    """Whether slow methods go to the background (``$HESSIAN_PROGRESSIVE``, default on; ``0`` turns
    it off: every method is computed before the page draws, as the tests of whole pages want)."""
    import os

    return os.environ.get("HESSIAN_PROGRESSIVE", "1").strip() not in ("0", "false", "no", "off")


def pending_line(job, config, later: list[str], samples: int, quick: dict | None = None) -> None:
    """What is still computing in the background, redrawn every second (a method of ``quick`` shows
    its first form meanwhile: :attr:`core.pipeline.FirstAnswers.quick`); the whole page reruns as
    soon as one of them is in the cache (or the job has ended)."""

    @st.fragment(run_every=1.0)
    def poll():
        landed = [name for name in later if pipeline.is_cached(config, name, options_for(name, samples))]
        if landed or not job.running():
            st.rerun()
        name, seconds, finished = job.status()
        waiting = ", ".join(REGISTRY[n].label + _first_form(n, quick or {}) for n in later)
        now = f"; now {REGISTRY[name].label}, for {seconds:.0f} s" if name else "; starting"
        st.info(f"Still computing in the background: **{waiting}** ({finished} of {len(later)} done{now}). "
                "What is shown is the first answer; the page fills in when they land, and every control and "
                "page stays usable meanwhile.", icon=":material/hourglass_top:")

    poll()


def _first_form(name: str, quick: dict) -> str:
    """How a method of :attr:`core.pipeline.FirstAnswers.quick` is shown until its full result
    lands: `` (shown so far with bottom=False)``; nothing for any other."""
    if name not in quick:
        return ""
    first = REGISTRY[name].first_answer
    return " (shown so far with " + ", ".join(f"{key}={value}" for key, value in first.items()) + ")"


#: while a long computation runs, what the previous run drew below the progress box (greyed by
#: Streamlit: another configuration's numbers) is hidden instead of shown as if it were current
HIDE_STALE_CSS = """<style>[data-testid="stElementContainer"][data-stale="true"] { display: none; }</style>"""


@contextmanager
def progress_box(title: str, first: str):
    """A status box with a bar while ``core`` computes: the stage that runs now
    (:func:`core.progress.stage`, ``first`` until one is announced), its place among the
    stages, and what it has done so far (products, training steps). Updating it is where
    Streamlit's Stop, or a changed control, interrupts the computation. Cleared when done, and
    when refused. While it shows, the previous run's elements below it are hidden
    (:data:`HIDE_STALE_CSS`): they belong to the configuration before the change."""
    st.markdown(HIDE_STALE_CSS, unsafe_allow_html=True)
    slot = st.empty()
    clock = None
    try:
        with slot.status(title, expanded=True):
            bar = st.progress(0.0)
            clock = ElapsedClock(bar)

            def show(counts):
                stage = counts.stage
                text = first if stage is None else f"{stage.text} ({stage.index + 1} of {stage.total})"
                done = counts.describe(since=None if stage is None else stage.since)
                clock.show(0.0 if stage is None else stage.fraction, text + (f": {done} so far" if done else ""),
                           stage)

            with progress.listening(show) as counts:
                show(counts)
                yield
    except (ConfigError, MethodError, BudgetExceeded):  # refused: its message replaces the box, not under it
        slot.empty()
        raise
    finally:
        if clock is not None:
            clock.stop()
    slot.empty()  # the page, not the progress, once it is done


class ElapsedClock:
    """The progress bar's text, and a clock under it while one step runs without telling
    (:data:`CLOCK_AFTER_S` or more since its last word: a LAPACK eigensolve, a BackPACK pass):
    the stage's text with the seconds it has run, beside its estimate, redrawn every second by a
    thread of this session (it only redraws; stopping stays with the computing thread)."""

    def __init__(self, bar):
        import threading

        from streamlit.runtime.scriptrunner import add_script_run_ctx

        self.bar, self.lock, self.done = bar, threading.Lock(), threading.Event()
        self.fraction, self.text, self.stage, self.started, self.said = 0.0, "", None, 0.0, 0.0
        self.thread = threading.Thread(target=self._run, daemon=True, name="elapsed-clock")
        add_script_run_ctx(self.thread)
        self.thread.start()

    def show(self, fraction: float, text: str, stage) -> None:
        import time

        with self.lock:
            now = time.monotonic()
            if stage is not self.stage:
                self.stage, self.started = stage, now
            self.fraction, self.text, self.said = fraction, text, now
        self.bar.progress(fraction, text=text)

    def _run(self) -> None:
        import time

        while not self.done.wait(1.0):
            with self.lock:
                now = time.monotonic()
                if now - self.said < CLOCK_AFTER_S:
                    continue
                fraction, text = self.fraction, f"{self.text} · running for {now - self.started:.0f} s"
            try:
                self.bar.progress(fraction, text=text)
            except Exception:  # noqa: BLE001 - the page was left or rerun: the clock has nothing to draw on
                return

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=2)


#: seconds without a word from the computation before the clock shows how long its step has run
CLOCK_AFTER_S = 2.0


@contextmanager
def working(text: str):
    """A spinner for a computation ``core`` is about to run, with what it has done so far
    (products, training steps) under it. Updating that line is also where Streamlit's Stop, or
    a changed control, interrupts the computation mid-way (:mod:`core.progress`)."""
    with st.spinner(text):
        line = st.empty()
        with progress.listening(lambda counts: line.caption(f":material/hourglass_top: {counts.describe()} so far")):
            yield
        line.empty()


def notices(selection: Selection, found: dict[str, Result]) -> None:
    """The dataset fallback notice and every method that could not run, with why."""
    info = pipeline.describe(selection.config)
    if info.get("notice"):
        if selection.present:  # one line on a projector; the whole notice on hover
            short = ("Offline: scikit-learn's 8x8 digits stand in for MNIST" if info["dataset_used"] == "digits"
                     else f"Data: {info['dataset_used']}")
            st.caption(f":material/info: {short}", help=info["notice"])
        else:
            st.warning(literal(info["notice"]))
    config = selection.config
    if config.batch_norm or config.loss == "mse":
        words = []
        if config.batch_norm:
            words.append("BatchNorm: the Hessian is that of the network in eval mode (running statistics), so the "
                         "loss is a fixed function of the parameters")
        if config.loss == "mse":
            words.append("MSE: mean over the N x C entries against one-hot targets; the GGN's output Hessian is "
                         "2I/(NC)")
        st.caption(":material/info: " + ". ".join(words) + ".")
    method_notices(found)


def method_notices(found: dict[str, Result]) -> None:
    """Every method of ``found`` that could not run, with why: those that cannot handle this network
    in one box, those over the budget each in a warning with the estimate (pending ones are said
    by :func:`pending_line`)."""
    found = {name: r for name, r in found.items() if not background.is_pending(r)}
    cannot = {name: cannot_run_reason(r.error) for name, r in found.items() if not r.ok and cannot_run_reason(r.error)}
    if cannot:
        lines = "\n".join(f"- **{REGISTRY[name].label}**: {literal(reason)}" for name, reason in cannot.items())
        st.info(f"Not run on this network (the others are unaffected):\n{lines}", icon=":material/block:")
    for name, result in found.items():  # over the budget: expected, said with its estimate, not an error
        if not result.ok and name not in cannot:
            st.warning(f"{REGISTRY[name].label}: {literal(result.error)}", icon=":material/speed:")


def provenance(selection: Selection) -> dict:
    """What a downloaded file needs to stand alone: the configuration, the dataset actually
    used, P, the methods' sample count and the code version."""
    info = pipeline.describe(selection.config)
    return {"config": selection.config.to_dict(), "dataset_used": info["dataset_used"],
            "num_params": info["num_params"], "hutchinson_samples": selection.samples,
            "code_version": info["code_version"]}


def file_label(selection: Selection) -> str:
    """A short file-name label of the configuration, e.g. ``mnist28_h8_relu_N1000_s0``."""
    c = selection.config
    size = str(c.image_side()) if c.dataset in FILE_DATASETS else ""
    shape = ({"mlp": "h"}.get(c.architecture, f"{c.architecture}_c") + "x".join(map(str, c.hidden))
             + ("_noskip" if c.no_skips else "") + ("_bn" if c.batch_norm else ""))
    extra = ("_mse" if c.loss == "mse" else "") + (f"_C{c.num_classes}" if c.num_classes != 10 else "")
    return f"{c.dataset}{size}_{shape}_{c.activation}{extra}_N{c.hessian_batch_size}_s{c.seed}"


def table_csv(table) -> str:
    """CSV text of a pandas ``DataFrame`` or of a list of dicts (one a row; the columns are
    every key, in order of appearance; a missing key is an empty cell). Lists need no pandas,
    which Home does not import (0.4-0.6 s)."""
    if hasattr(table, "to_csv"):
        return table.to_csv(index=False)
    rows = list(table)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def csv_with_header(table, selection: Selection) -> str:
    """The CSV of ``table`` (see :func:`table_csv`) with what produced it in columns of its own
    on every row (the configuration as JSON, the dataset used, P, the sample count, the code
    version): one plain table a spreadsheet opens as it is, every row standing alone."""
    about = {("configuration" if key == "config" else key): json.dumps(value) if isinstance(value, dict) else value
             for key, value in provenance(selection).items()}
    rows = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    return table_csv([{**row, **about} for row in rows] or [about])


def download_csv(table, name: str, selection: Selection) -> None:
    """A CSV download whose header block carries the configuration; numbers stay numbers."""
    filename = f"{name}_{file_label(selection)}.csv"
    st.download_button(f"Download {name}.csv", csv_with_header(table, selection).encode(), filename,
                       "text/csv", key=f"csv_{name}")


def markdown_table(header: list[str], rows: list[list[str]]) -> None:
    """A small table as Markdown: drawn at once, with no pandas or Arrow (``st.dataframe``
    costs Home 0.6-1 s of imports and a grid component for a few rows). Every column but the
    first is right-aligned, for numbers."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join([":--", *["--:"] * (len(header) - 1)]) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    st.markdown("\n".join(lines))


def download_json(found: dict[str, Result], selection: Selection, name: str = "results") -> None:
    """Every result of the selected methods computed so far for this configuration (``found`` and
    whatever the other pages have cached), as JSON; the pages not yet visited say which are missing."""
    everything = {**pipeline.cached_results(selection.config, selection.methods, selection.samples), **found}
    missing = [REGISTRY[m].label for m in pipeline.selection(selection.methods) if m not in everything]
    data = {**provenance(selection), "results": {n: r.to_dict() for n, r in everything.items()},
            "not_computed_yet": missing}
    st.download_button("Download all results (JSON)", json.dumps(data).encode(), f"{name}_{file_label(selection)}.json",
                       "application/json", key=f"json_{name}",
                       help=f"{len(everything)} results" + (f"; not computed yet (open their pages): {', '.join(missing)}"
                                                            if missing else ""))


PRESENTATION_CSS = """
<style>
.stMarkdown p, .stMarkdown li, .stCaption p, label p, [data-testid="stMetricLabel"] p { font-size: 1.15rem !important; }
[data-testid="stMetricValue"] { font-size: 2.4rem !important; }
.block-container { padding-top: 2.6rem !important; }
</style>
"""


def presentation(selection: Selection) -> None:
    """Larger type (on the page and in its charts) and less padding when presentation mode is on."""
    from app import charts

    charts.PRESENTING.set(bool(selection.present))
    if selection.present:
        st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)


def page_header(title: str, intro: str = "") -> Selection:
    """What every page starts with: the sidebar's selection, presentation styling, the title and
    (outside presentation mode) the page's introduction."""
    from app import sidebar

    selection = sidebar.current()
    presentation(selection)
    st.title(title)
    if intro and not selection.present:
        st.markdown(intro)
    return selection


def details(selection: Selection):
    """Where tables and downloads go: folded away in presentation mode, inline otherwise."""
    return st.expander("Tables and downloads", expanded=False) if selection.present else st.container()


def guarded(render) -> None:
    """Run a page body; any unexpected error becomes a message, never a traceback. Then, however
    the body ended, the session's background job may compute (:meth:`core.background.Job.release`:
    it held while this page computed and drew its first answer)."""
    try:
        render()
    except (ConfigError, MethodError) as error:
        st.error(f"Invalid setting: {literal(error)}")
    except BudgetExceeded as refusal:  # e.g. training that would not fit the budget: refused before it starts
        st.error(literal(refusal))
    except Exception as error:  # noqa: BLE001 - the page must never show a traceback
        if type(error).__name__ in ("StopException", "RerunException"):
            raise
        st.error(f"Something went wrong: {type(error).__name__}: {literal(error)}. "
                 "Try another setting; the cached results are unaffected.")
    finally:
        job = st.session_state.get(JOB_KEY)
        if job is not None:
            job.release()
