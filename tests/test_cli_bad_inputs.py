"""Bad input through the CLI: one line naming what is wrong, exit 2, no traceback, no work.

Each case runs in a fresh process against an empty cache and must finish in seconds; "no work"
is checked by the cache staying without entries (nothing trained, nothing computed).
"""

import subprocess
import sys
import time

import pytest

from factories import ROOT

TINY = ["--dataset", "synthetic", "--hidden", "5", "--epochs", "2", "--train-subset", "200",
        "--hessian-batch", "32", "--synthetic-dim", "4"]  # P = 4*5 + 5 + 5*10 + 10 = 85

CASES = [
    (["run", "--architecture", "cnn", "--dataset", "synthetic"], "architecture='cnn' is not allowed: 'mlp' with"),
    (["run", "--architecture", "cnn", "--hidden", "4,4,4,4"], "at most 3 channel counts for a cnn"),
    (["run", "--architecture", "cnn", "--input-size", "7", "--hidden", "4,4,4"], "at most 2 convolution blocks on 7x7"),
    (["run", "--dataset", "digits", "--architecture", "cnn", "--hidden", "256,256,256", "--epochs", "1000"],
     "Training is refused: about"),
    (["run", "--classes", "11"], "num_classes=11 is not allowed: an integer from 2 to 10"),
    (["run", "--classes", "1"], "num_classes=1 is not allowed"),
    (["run", "--loss", "hinge"], "invalid choice: 'hinge'"),
    (["run", "--dataset", "digits", "--classes", "2", "--hessian-batch", "1000"],
     "hessian_batch_size=1000 is not allowed: at most the"),
    (["run", "--hidden", "8,x"], "hidden='8,x' is not allowed"),
    (["run", *TINY, "--optimizer", "gd", "--epochs", "1", "--checkpoints", "20", "--checkpoint", "15"],
     "checkpoint=15 is not allowed: an integer from -1 to 1: this schedule"),
    (["run", "--hessian-batch", "0"], "hessian_batch_size=0 is not allowed"),
    (["compare", "--methods", "nope"], "unknown method 'nope'"),
    (["compare", "--methods", ""], "--methods='' is not allowed"),
    (["compare", *TINY, "--option", "lanczos.k=-3"], "must be positive"),
    (["compare", *TINY, "--methods", "hutchinson", "--option", "hutchinson.samples=1e9"], "must be at most 100,000"),
    (["compare", *TINY, "--methods", "hutchinson", "--option", "hutchinson.samples=inf"], "must be a int"),
    (["compare", *TINY, "--methods", "lanczos", "--option", "lanczos.k=85"], "k=85 is not allowed here: fewer than P"),
    (["compare", *TINY, "--methods", "hutchpp", "--option", "hutchpp.samples=300"], "fewer than P"),
    (["compare", *TINY, "--methods", "slq", "--option", "slq.iterations=20000"], "iterations=20000 is not allowed"),
    (["compare", *TINY, "--top-k", "0"], "--top-k=0 is not allowed"),
    (["landscape", *TINY, "--grid", "500"], "grid=500 is not allowed: an integer from 5 to 61"),
    (["landscape", *TINY, "--rise", "nan"], "rise=nan is not allowed"),
    (["compare", *TINY, "--top-k", "-5"], "--top-k=-5 is not allowed"),
    (["run", *TINY, "--out", "/nonexistent-dir/x.json"], "in an existing directory"),
    (["run", *TINY, "--out", "/etc/hostname/x.json"], "in an existing directory"),
    (["run", *TINY, "--out", "/tmp"], "a regular file (/tmp is a folder or a device)"),
    (["run", *TINY, "--out", "/dev/full"], "a regular file (/dev/full is a folder or a device)"),
    (["compare", *TINY, "--out", "/tmp/" + "x" * 300 + ".json"], "a shorter file name"),
    (["warm", *TINY, "--samples", "0"], "--samples=0 is not allowed"),
    (["warm", *TINY, "--samples", "-5"], "--samples=-5 is not allowed"),
    (["warm", *TINY, "--methods", ","], "--methods=',' is not allowed"),
    (["warm", *TINY, "--widths", "4;x"], "hidden='x' is not allowed"),
    (["warm", *TINY, "--activations", "relu,swish"], "activation='swish' is not allowed"),
    (["warm", *TINY, "--activations", ""], "--activations='' is not allowed: a list without empty items"),
    (["warm", *TINY, "--widths", "4;;8"], "--widths='4;;8' is not allowed: a list without empty items"),
    (["compare", *TINY, "--option", "nodot=3"], "--option='nodot=3' is not allowed"),
    (["compare", *TINY, "--methods", "hutchinson", "--option", "hutchinson.seed=99999999999999999999999"],
     "must be at most 2,147,483,647"),
    (["compare", *TINY, "--methods", "lanczos", "--option", "hutchinson.samples=3"], "not among the methods"),
    (["sweep", *TINY, "--methods", "hutchinson", "--dask-scheduler", "not a url"], "is not a scheduler address"),
    (["sweep", *TINY, "--methods", "hutchinson", "--dask-scheduler", "tcp://127.0.0.1:99999"],
     "is not a scheduler address"),
    (["sweep", *TINY, "--methods", "hutchinson", "--dask-local", "999"], "--dask-local=999 is not allowed"),
]


def run_cli(args, cache_dir, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "core", *args, "--cache-dir", str(cache_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def assert_refused(proc, words, cache_dir, seconds):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1500:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert not list(cache_dir.rglob("*.pkl")), "work was done before the refusal"
    assert seconds < 30


@pytest.mark.parametrize("args, words", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_cli_input_is_one_line_exit_2_and_no_work(tmp_path, args, words):
    start = time.perf_counter()
    proc = run_cli(args, tmp_path / "cache")
    assert_refused(proc, words, tmp_path / "cache", time.perf_counter() - start)


def test_an_empty_cache_dir_flag_is_refused_and_an_empty_variable_means_the_default(tmp_path):
    import os

    proc = subprocess.run([sys.executable, "-m", "core", "run", *TINY, "--cache-dir", ""], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--cache-dir='' is not allowed: a folder path" in proc.stderr
    assert not list(tmp_path.rglob("*.pkl"))  # nothing written into the current folder
    from core import workspace

    old = os.environ.get(workspace.CACHE_DIR_ENV)
    os.environ[workspace.CACHE_DIR_ENV] = ""
    try:
        assert workspace.Workspace.from_environment().cache_dir == workspace.PROJECT_DIR / "cache"
    finally:
        if old is None:
            del os.environ[workspace.CACHE_DIR_ENV]
        else:
            os.environ[workspace.CACHE_DIR_ENV] = old


def test_an_output_path_through_a_link_or_beside_a_taken_csv_is_refused_before_any_work(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "elsewhere" / "missing.json")  # dangling
    start = time.perf_counter()
    proc = run_cli(["compare", *TINY, "--out", str(link)], tmp_path / "cache")
    assert_refused(proc, "not a symbolic link", tmp_path / "cache", time.perf_counter() - start)
    (tmp_path / "results.csv").write_text("the user's own table\n")
    proc = run_cli(["compare", *TINY, "--out", str(tmp_path / "results.json")], tmp_path / "cache")
    assert_refused(proc, "would overwrite it", tmp_path / "cache", time.perf_counter() - start)
    assert (tmp_path / "results.csv").read_text() == "the user's own table\n"
    assert not (tmp_path / "elsewhere" / "missing.json").exists()


@pytest.mark.parametrize("variable, value", [("HESSIAN_MAX_GIB", "nan"), ("HESSIAN_MAX_GIB", "-1"),
                                             ("HESSIAN_MAX_SECONDS", "0"), ("HESSIAN_MAX_SECONDS", "lots")])
def test_bad_budget_variables_are_refused(tmp_path, variable, value):
    start = time.perf_counter()
    proc = run_cli(["run", *TINY], tmp_path / "cache", env={variable: value})
    assert_refused(proc, f"${variable}={value!r} is not allowed", tmp_path / "cache", time.perf_counter() - start)


@pytest.mark.parametrize("variable, value, words", [
    ("HESSIAN_THREADS", "x", "$HESSIAN_THREADS='x' is not allowed"), ("HESSIAN_THREADS", "0", "threads=0 is not allowed"),
    ("HESSIAN_DEVICE", "tpu", "device='tpu' is not allowed")])
def test_bad_default_variables_are_one_line_even_for_help(tmp_path, variable, value, words):
    """The configuration's defaults read these: a bad one is refused before any parser is built."""
    for args in (["methods"], ["run", "--help"]):
        start = time.perf_counter()
        proc = run_cli(args, tmp_path / "cache", env={variable: value})
        assert_refused(proc, words, tmp_path / "cache", time.perf_counter() - start)


def test_an_unreachable_scheduler_is_one_line_before_any_cell(tmp_path):
    import socket

    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    proc = run_cli(["sweep", *TINY, "--methods", "hutchinson", "--dask-scheduler", f"tcp://127.0.0.1:{port}",
                    "--out", str(tmp_path / "s.csv")], tmp_path / "store")
    assert proc.returncode == 2 and "no Dask scheduler answered at" in proc.stderr, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and time.perf_counter() - started < 60
    assert not (tmp_path / "s.csv").exists()


def test_a_sweep_over_its_whole_budget_is_refused_before_its_first_cell(tmp_path):
    started = time.perf_counter()
    proc = run_cli(["sweep", *TINY, "--methods", "hutchinson", "--grid", "seed=0;1;2",
                    "--out", str(tmp_path / "s.csv")], tmp_path / "store", env={"HESSIAN_MAX_SWEEP_SECONDS": "0.01"})
    assert_refused(proc, "the sweep is refused: about", tmp_path / "store", time.perf_counter() - started)
    assert "over the sweep budget of" in proc.stderr and not (tmp_path / "s.csv").exists()


def test_cache_dir_that_is_a_file_or_shared_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = run_cli(["run", *TINY], tmp_path / "file" / "cache")
    assert proc.returncode == 2 and "cannot create cache directory" in proc.stderr
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    proc = run_cli(["run", *TINY], shared)
    assert proc.returncode == 2 and "writable by others" in proc.stderr and "Traceback" not in proc.stderr
