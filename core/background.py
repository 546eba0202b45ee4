"""The slow methods of one configuration in a background process, so a page answers now.

A page that is asked for a configuration not yet cached splits its methods
(:func:`core.pipeline.split_first_answers`): the fast ones (matrix-free estimates, diagonals,
Kronecker factors: seconds) it computes at once; the slow ones (the dense exact spectra, an
iterative method whose bound is long) go to a :class:`Job`. The job runs them one by one in its
own interpreter (``python -m core.background``) through :func:`core.pipeline.run`, so each result lands in the cache as
it is done, under the cache's per-entry locks, the same result a foreground run gives. The page
shows what it has, marks the rest as pending (:func:`pending_result`), and redraws when a
pending result lands.

Why a process and not a thread: a changed control must abandon the old configuration's work at
once, and a thread cannot be stopped inside a LAPACK call (the eigensolve of a P = 12,730
Hessian runs a minute without returning to Python). :meth:`Job.cancel` terminates the process;
nothing half-done is kept (entries are written to a temporary file and renamed, a killed
holder's file lock is released by the system, its temporary file removed later).

The job exits when the process that started it is gone (:func:`exit_with_parent`): a server
stopped with Ctrl-C, or killed, has no page to compute for, and its job must not keep a core busy.

The job starts while the page trains, so its interpreter and imports are ready by the time the
page has its first answer; but it computes only once the page has drawn (:meth:`Job.release`),
or :data:`HOLD_SECONDS` at most. Two processes each running torch's two threads on two cores
slow each other more than sharing the cores would (each thread waits at every parallel region for
the one that was descheduled: :data:`core.training.ONE_THREAD_BELOW_STEP_MACS` has the measured
4x), and the first answer is what the user waits for.

The job reports the method that runs, and when it began, as JSON lines on its standard output,
which the page reads without waiting (:meth:`Job.status`). It has no user interface: the app draws it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from .config import ExperimentConfig

#: the words a pending result's error begins with (a page tells pending from failed by them)
PENDING = "pending: "


def pending_result(name: str, options: dict):
    """The placeholder of a method computing in the background: a failed
    :class:`~core.results.Result` whose error says so, which every page already treats as
    "not here" (as past the exact limit), and :func:`is_pending` recognises."""
    from .methods import get_spec
    from .results import Result

    spec = get_spec(name)
    return Result.failed(name, spec.family, f"{PENDING}{spec.label} is computing in the background; the page "
                         "fills it in when it lands", options)


def is_pending(result) -> bool:
    """Whether ``result`` is :func:`pending_result`'s placeholder."""
    return bool(result is not None and not result.ok and (result.error or "").startswith(PENDING))


#: a page's job that is not released (:meth:`Job.release`) computes after this many seconds anyway
HOLD_SECONDS = 30.0


def _warm_up() -> None:
    """Import what every method needs (torch, the registry, the curvature code: about 2 s of one
    core), before the job is released."""
    import torch  # noqa: F401

    from . import methods, pipeline, problem  # noqa: F401
    from .curvature import dense  # noqa: F401


def _hold(stream, seconds: float) -> None:
    """Wait until ``stream`` (the job's standard input) says ``go``, ends, or ``seconds`` pass."""
    import select

    ready, _, _ = select.select([stream], [], [], seconds)
    if ready:
        stream.readline()


def _work(tasks: list[dict]) -> None:
    """In the job's process: run each task's methods (``{"config", "methods", "options"}``)
    through the cache (with the configuration's own thread count, as every run), saying on
    stdout (one JSON line each) which one runs, counted over all tasks, and which one raised."""
    import json
    import sys

    from . import library_warnings, pipeline

    library_warnings.quiet()

    def say(**line):
        print(json.dumps(line), flush=True)

    index = 0
    for task in tasks:
        config = ExperimentConfig.from_dict(task["config"])
        for name in task["methods"]:
            say(index=index, method=name, since=time.time())
            try:
                pipeline.run(config, name, task["options"][name])
            except Exception as error:  # noqa: BLE001 - the page computes it in the foreground and says why
                say(index=index, method=name,
                    error=f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
            index += 1
    say(index=index, method=None, since=time.time())
    sys.stdout.flush()


def exit_with_parent(parent: int, every: float = 0.5) -> None:
    """End this process, from a daemon thread, once its parent ``parent`` is gone.

    A process whose parent exits is re-parented (to init or a subreaper), so ``os.getppid()``
    changing is the sign, checked every ``every`` seconds; ``os._exit`` ends the process even while
    its main thread is inside a LAPACK call. Not ``prctl(PR_SET_PDEATHSIG)``: that signal follows
    the *thread* that started the child, and a Streamlit page starts its job from a script thread
    that ends after every rerun. A parent already gone when this is called ends the process at once.
    """
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


#: the CPU priority of a page's own job (``nice``): it starts while the page trains and computes its
#: first answer, which come first. At nice 5 its imports took a quarter of a core for 12 s of a
#: CNN's first answer (the scheduler's share for nice 5 against 0), and the page's two training
#: threads waited on the core it took; at 19 it gets about 1.5% of a contended core, and once the
#: page has drawn it has the machine to itself
NICE = 19


@dataclass
class Job:
    """Methods of one configuration computing in a separate process (:mod:`core.background`).

    Attributes:
        config: the configuration.
        methods: the methods, in the order they run.
        options: each method's resolved options (what its cache entry is keyed by).
    """

    config: ExperimentConfig
    methods: list[str]
    options: dict[str, dict]
    #: whether it holds after its imports until :meth:`release` (a page's own job, started while the
    #: page computes its first answer); False: it computes at once
    holds: bool = True
    _process: object = None
    _buffer: str = ""
    _now: tuple = (0, None, 0.0)
    _errors: dict = field(default_factory=dict)

    def start(self) -> "Job":
        """Start ``python -m core.background`` (a fresh interpreter, nothing of the server's
        threads or state) with the job as JSON on its standard input, in this workspace."""
        import json
        import subprocess
        import sys

        from . import workspace

        here = workspace.current()
        env = {**os.environ, workspace.CACHE_DIR_ENV: str(here.cache_dir), workspace.DATA_DIR_ENV: str(here.data_dir)}
        self._process = subprocess.Popen([sys.executable, "-m", "core.background", *self.process_words()],
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                         cwd=str(workspace.PROJECT_DIR))
        told = {**self.payload(), "hold": HOLD_SECONDS if self.holds else 0.0, "parent": os.getpid()}
        self._process.stdin.write(json.dumps(told).encode() + b"\n")
        self._process.stdin.flush()
        os.set_blocking(self._process.stdout.fileno(), False)
        if not self.holds:
            self.release()  # its standard input closed: nothing left for it to wait on
        return self

    def release(self) -> None:
        """Let the job compute (it holds after its imports until then: module docstring); once."""
        process = self._process
        if process is None or process.stdin is None or process.stdin.closed:
            return
        for step in (lambda: process.stdin.write(b"go\n"), process.stdin.close):
            try:
                step()
            except (BrokenPipeError, OSError, ValueError):  # the job has already ended
                pass

    def process_words(self) -> list[str]:
        """Words after ``python -m core.background`` on the process's command line: none here (they
        only tell a person or ``pgrep`` which kind of job a process is; the process ignores them)."""
        return []

    def payload(self) -> dict:
        """What the process is given: its tasks (here one: this configuration's methods) and its
        CPU priority (:data:`NICE`)."""
        return {"nice": NICE, "tasks": [{"config": self.config.to_dict(), "methods": list(self.methods),
                                      "options": self.options}]}

    def _drain(self) -> None:
        import json

        if self._process is None:
            return
        chunk = b""
        while True:
            try:
                part = os.read(self._process.stdout.fileno(), 65536)
            except (BlockingIOError, OSError, ValueError):
                break
            if not part:
                break
            chunk += part
        if not chunk:
            return
        *lines, self._buffer = (self._buffer + chunk.decode(errors="replace")).split("\n")
        for text in lines:
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if "error" in line:
                self._errors[line["method"]] = line["error"]
            else:
                self._now = (line["index"], line["method"], line["since"])

    def status(self) -> tuple[str | None, float, int]:
        """``(method running now or None, seconds it has run, methods finished)``, read without waiting."""
        self._drain()
        index, name, when = self._now
        return name, (time.time() - when) if name else 0.0, index

    def errors(self) -> dict[str, str]:
        """Methods that raised in the job (a crash: the foreground computes them and says why)."""
        self._drain()
        return dict(self._errors)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def covers(self, config: ExperimentConfig, methods) -> bool:
        """Whether this job computes every one of ``methods`` for ``config``."""
        return config == self.config and set(methods) <= set(self.methods)

    def cancel(self) -> None:
        """Stop the process now (terminate, then kill); nothing it had not finished is kept."""
        import subprocess

        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except (BrokenPipeError, OSError):  # a held job's unread "go"
                pass


if __name__ == "__main__":
    import json
    import sys

    job = json.loads(sys.stdin.readline())
    exit_with_parent(job.get("parent", os.getppid()))
    if job.get("nice"):
        os.nice(job["nice"])
    if job.get("hold"):
        _warm_up()
        _hold(sys.stdin, job["hold"])
    _work(job["tasks"])
