import json
import subprocess
import sys

from factories import ROOT

TINY = ["--dataset", "synthetic", "--hidden", "5", "--epochs", "2", "--train-subset", "200",
        "--hessian-batch", "32", "--synthetic-dim", "4"]


def run_cli(*args, cache_dir):
    return subprocess.run([sys.executable, "-m", "core", *args, "--cache-dir", str(cache_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_run_prints_paper_table_and_writes_json(tmp_path):
    out = tmp_path / "run.json"
    proc = run_cli("run", *TINY, "--quiet", "--out", str(out), cache_dir=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for words in ("Tr(H)", "maximum eigenvalue", "time for all eigenvalues", "dataset used: synthetic",
                  "P = 85", "test accuracy",
                  "(PyHessian's extrapolated)", "PyHessian's 'all eigenvalues' time is extrapolated",
                  "Full Hessian (paper, its MNIST)", "not MNIST: the paper's columns are its MNIST figures"):
        assert words in proc.stdout, words
    data = json.loads(out.read_text())
    trace_row = data["rows"][0]
    assert trace_row[0] == "Tr(H)" and abs(trace_row[1] - sum(data["results"]["exact_hessian"]["spectrum"])) < 1e-4


def test_compare_writes_json_and_csv(tmp_path):
    out = tmp_path / "cmp.json"
    proc = run_cli("compare", *TINY, "--methods", "lanczos,diag_hessian,hutchinson", "--option",
                   "hutchinson.samples=30", "--quiet", "--out", str(out), cache_dir=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr[-2000:]
    document = json.loads(out.read_text())
    rows = document["rows"]
    assert document["reference"] == "the exact Hessian" and "errors against the exact Hessian" in proc.stdout
    assert [r["method"] for r in rows] == ["lanczos", "diag_hessian", "hutchinson"]
    assert 0 < rows[0]["max_residual"] < 1e-4 and rows[2]["trace_std_error"] > 0
    assert rows[0]["max_topk_rel_error"] < 1e-5 and rows[1]["trace_rel_error"] < 1e-5
    assert out.with_suffix(".csv").read_text().startswith("method,")


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path):
    for args, words in [(["run", "--hidden", "8,x"], "hidden='8,x' is not allowed"),
                        (["run", "--hessian-batch", "0"], "hessian_batch_size=0 is not allowed"),
                        (["compare", "--methods", "nope"], "unknown method 'nope'"),
                        (["compare", *TINY, "--option", "lanczos.k=-3"], "must be positive")]:
        proc = run_cli(*args, cache_dir=tmp_path / "c")
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("*.pkl"))


def test_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=ROOT, capture_output=True, text=True)
    for command in ("run", "compare", "warm", "methods"):
        assert command in proc.stdout


def test_warm_fills_the_cache_and_a_second_warm_computes_nothing(tmp_path):
    args = ["warm", *TINY, "--widths", "4;5", "--methods", "exact_hessian,lanczos,hutchinson", "--quiet"]
    first = run_cli(*args, cache_dir=tmp_path / "c")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "warmed 6 results for 2 configurations" in first.stdout
    assert "0 could not run" in first.stdout
    entries = sorted(p.stat().st_mtime_ns for p in (tmp_path / "c").rglob("*.pkl"))
    second = run_cli(*args, cache_dir=tmp_path / "c")
    assert second.returncode == 0
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "c").rglob("*.pkl")) == entries


def test_warm_with_its_default_methods_skips_those_whose_defaults_do_not_fit_a_small_p(tmp_path):
    proc = run_cli("warm", *TINY, "--widths", "5", "--quiet", cache_dir=tmp_path / "c")  # P = 85
    assert proc.returncode == 0, proc.stderr[-2000:]
    skipped = [line for line in proc.stderr.splitlines() if "skipped, its defaults do not fit this P" in line]
    assert {line.split(": skipped")[1].split(": ")[1] for line in skipped} >= {"hutchpp", "xtrace"}
    assert "warmed" in proc.stdout and "0 could not run" in proc.stdout
    named = run_cli("warm", *TINY, "--widths", "5", "--methods", "hutchpp", "--quiet", cache_dir=tmp_path / "d")
    assert named.returncode == 2 and "fewer than P" in named.stderr  # a method the user named must fit


def test_compare_out_csv_keeps_the_json_beside_it(tmp_path):
    out = tmp_path / "cmp.csv"
    proc = run_cli("compare", *TINY, "--methods", "hutchinson", "--option", "hutchinson.samples=10", "--quiet",
                   "--out", str(out), cache_dir=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text())["rows"][0]["method"] == "hutchinson"
    assert out.read_text().startswith("method,")


def test_ctrl_c_ends_with_one_line_and_keeps_nothing_half_done(tmp_path):
    """SIGINT during a Lanczos of about ten seconds (P = 75,010): exit 130, one line, no traceback, no
    entry. The child gets SIGINT's default disposition back: a shell's background job starts with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    import signal
    import time

    cache_dir = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "core", "compare", "--dataset", "digits", "--hidden", "1000",
                             "--methods", "lanczos", "--cache-dir", str(cache_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while not [p for p in cache_dir.rglob("*.pkl") if p.parent.parent.name == "train"]:  # trained: Lanczos next
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(3)  # inside Lanczos
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not list(cache_dir.rglob("*.tmp"))
    assert not [p for p in cache_dir.rglob("*.pkl") if p.parent.parent.name == "result"]  # no method result
    assert [p for p in cache_dir.rglob("*.pkl") if p.parent.parent.name == "train"]  # training finished before


def test_trajectory_says_each_checkpoint_as_it_starts(tmp_path):
    proc = run_cli("trajectory", "--dataset", "synthetic", "--synthetic-dim", "5", "--hidden", "4", "--epochs", "2",
                   "--train-subset", "200", "--hessian-batch", "40", "--checkpoints", "2", "--k", "2",
                   cache_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "the checkpoint at step" in line]
    assert len(lines) == 2 and "(1 of 2" in lines[0] and "(2 of 2" in lines[1], proc.stderr
    quiet = run_cli("trajectory", "--dataset", "synthetic", "--synthetic-dim", "5", "--hidden", "4", "--epochs", "2",
                    "--train-subset", "200", "--hessian-batch", "40", "--checkpoints", "2", "--k", "2",
                    "--quiet", cache_dir=tmp_path)
    assert quiet.returncode == 0 and "checkpoint 1 of 2" not in quiet.stderr


def test_landscape_prints_each_line_with_its_model_radius_and_writes_json(tmp_path):
    import json

    out = tmp_path / "land.json"
    proc = run_cli("landscape", *TINY, "--points", "11", "--grid", "5", "--out", str(out), cache_dir=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for words in ("v1 (λ1 =", "random 2 (filter-normalised)", "radius", "eigenvectors of the exact Hessian"):
        assert words in proc.stdout, words
    found = json.loads(out.read_text())
    assert len(found["lines"]) == 5 and len(found["plane"]["batch"]) == 5
    assert (tmp_path / "land.csv").exists()
