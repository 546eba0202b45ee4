"""Sweeps: one table whatever the executor, restarts compute only what is missing, refusals are
rows, bad sweep specifications are one line."""

import os
import subprocess
import sys

import pytest

from core import cache, sweep, workspace
from factories import ROOT

FIXED = {"dataset": "synthetic", "synthetic_dim": 4, "epochs": 2, "train_subset": 200, "hessian_batch_size": 32}
GRID = {"hidden": ["4", "6"], "activation": ["relu", "tanh"]}
METHODS = {"lanczos": {"k": 3}, "hutchinson": {"samples": [10, 20]}}  # 2 x 2 configs x 3 method settings
VOLATILE = {"seconds", "peak_memory_mib"}


def stable(rows):
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def test_loky_and_a_local_dask_cluster_give_the_same_table(tmp_path):
    cells = sweep.expand(GRID, FIXED, METHODS)
    assert len(cells) == 12
    with workspace.using(cache_dir=tmp_path / "loky"):
        results, counts = sweep.run_sweep(cells, jobs=2)
        by_loky = sweep.table(cells, results)
    assert counts == {"cached": 0, "computed": 16, "failed": 0}  # 12 cells + 4 exact references
    with workspace.using(cache_dir=tmp_path / "dask"):
        results, counts = sweep.run_sweep(cells, dask_local=2)
        by_dask = sweep.table(cells, results)
    assert counts["computed"] == 16
    assert stable(by_loky) == stable(by_dask)
    assert all(row["status"] == "ok" for row in by_loky)
    assert max(r["max_topk_rel_error"] for r in by_loky if r["method"] == "lanczos") < 1e-5


def test_a_restarted_sweep_computes_only_the_missing_cells(tmp_path):
    with workspace.using(cache_dir=tmp_path):
        first = sweep.expand({"hidden": ["4"], "activation": ["relu", "tanh"]}, FIXED, METHODS)
        sweep.run_sweep(first)  # the part that ran before the stop
        cache.COMPUTE_COUNTS.clear()
        everything = sweep.expand(GRID, FIXED, METHODS)
        _, counts = sweep.run_sweep(everything)
    assert counts == {"cached": 8, "computed": 8, "failed": 0}
    assert sum(cache.COMPUTE_COUNTS[m] for m in ("exact_hessian", "lanczos", "hutchinson")) == 8


def test_a_refused_cell_is_a_row(tmp_path, monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_GIB", "0.00002")  # P = 70: the dense 5.5e-5 GiB is over, the rest fit
    cells = sweep.expand({"hidden": ["4"]}, FIXED, {"exact_hessian": {}, "hutchinson": {"samples": 10}})
    with workspace.using(cache_dir=tmp_path):
        results, counts = sweep.run_sweep(cells)
        rows = sweep.table(cells, results)
    by_method = {r["method"]: r for r in rows}
    assert by_method["exact_hessian"]["status"] == "refused" and "refused" in by_method["exact_hessian"]["error"]
    assert by_method["hutchinson"]["status"] == "ok" and by_method["hutchinson"]["trace"] is not None


@pytest.mark.parametrize("text, words", [
    ("[grid]\nwidht = [4]\n[methods]\nlanczos = {}\n", "grid key 'widht' is not a configuration field"),
    ("[grid]\nactivation = 'relu'\n[methods]\nlanczos = {}\n", "grid key 'activation' must be a non-empty list"),
    ("[grid]\nactivation = ['swish']\n[methods]\nlanczos = {}\n", "activation='swish' is not allowed"),
    ("[grid]\nseed = [0]\n[methods]\npower = {}\n", "unknown method 'power'"),
    ("[grid]\nseed = [0]\n[methods]\nlanczos = {kk = 3}\n", "lanczos: unknown option 'kk'"),
    ("[grid]\nseed = [0]\n", "a sweep needs at least one method"),
    ("[grids]\nseed = [0]\n", "unknown section 'grids'"),
    ("[grid\n", "not valid TOML"),
    ("grid = 3\n[methods]\nlanczos = {}\n", "[grid] must be a table"),
    ("methods = 'lanczos'\n", "[methods] must be a table"),
    ("config = [1, 2]\n[methods]\nlanczos = {}\n", "[config] must be a table"),
    ("[grid]\nactivation = [['relu']]\n[methods]\nlanczos = {}\n", "activation=['relu'] is not allowed"),
    ("[grid]\nseed = [0]\n[methods]\nhutchinson = {seed = 99999999999999999999}\n", "must be at most 2,147,483,647"),
    ("[grid]\nseed = [0]\n[methods]\nlanczos = {bottom = 2}\n", "lanczos: option bottom=2 must be a bool"),
    ("[grid]\nseed = [0]\n[methods]\nhutchinson = {samples = []}\n", "methods.hutchinson.samples is an empty list"),
    ("[grid]\nseed = [" + ",".join(map(str, range(100))) + "]\nlr = [" + ",".join(str(0.001 * (i + 1)) for i in range(100))
     + "]\n[methods]\nlanczos = {}\n", "at most 5,000 cells per sweep"),
])
def test_bad_sweep_files_get_one_line_naming_the_key(tmp_path, text, words):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    _refused(tmp_path, path, words)


@pytest.mark.parametrize("kind", ["not utf-8", "fifo", "/dev/zero", "too large"])
def test_sweep_files_that_are_not_small_utf8_text_are_one_line(tmp_path, kind):
    path = tmp_path / "sweep.toml"
    if kind == "not utf-8":
        path.write_bytes(b"\xff\xfe[grid]\n")
        words = "not UTF-8 text"
    elif kind == "fifo":
        os.mkfifo(path)  # a reader would block forever
        words = "not a regular file"
    elif kind == "/dev/zero":
        path, words = "/dev/zero", "not a regular file"
    else:
        path.write_text("# padding\n" * 200_000)
        words = "over the 1,048,576 a sweep file may have"
    _refused(tmp_path, path, words)


def _refused(tmp_path, path, words):
    proc = subprocess.run([sys.executable, "-m", "core", "sweep", "--file", str(path), "--cache-dir",
                           str(tmp_path / "cache"), "--out", str(tmp_path / "out.csv"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr
    assert not list((tmp_path / "cache").rglob("*.pkl"))


def test_the_sweep_page_draws_a_finished_table(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    cells = sweep.expand(GRID, FIXED, METHODS)
    with workspace.using(cache_dir=tmp_path / "cache"):
        results, _ = sweep.run_sweep(cells)
        paths = sweep.write_table(sweep.table(cells, results), tmp_path / "sweep.csv")
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    at.run()  # Home on the default configuration is not computed: the switch comes first

    monkeypatch.chdir(tmp_path)  # the page reads tables under the folder the server was started in
    at.switch_page("views/sweep.py").run()
    at.text_input(key="sweep_path").set_value(str(paths[0])).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) >= 2 or len(at.get("arrow_vega_lite_chart")) >= 2
    assert sweep.swept_fields(sweep.read_table(paths[0])) == ["hidden", "activation"]


def test_the_sweep_page_reads_only_bounded_regular_csv_files_under_its_folder(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    (root / "ok.csv").write_text("method,status\n")
    assert sweep.table_path("ok.csv", root) == (root / "ok.csv").resolve()
    for text, words in (("/etc/passwd", "only sweep tables under"), ("../outside.csv", "only sweep tables under"),
                        ("missing.csv", "not found"), ("notes.txt", "is not a .csv")):
        with pytest.raises(sweep.SweepError, match=words):
            sweep.table_path(text, root)
    os.mkfifo(root / "pipe.csv")  # would block a reader forever
    with pytest.raises(sweep.SweepError, match="not a regular file"):
        sweep.table_path("pipe.csv", root)
    monkeypatch.setattr(sweep, "MAX_TABLE_BYTES", 10)
    with pytest.raises(sweep.SweepError, match="over the"):
        sweep.table_path("ok.csv", root)
