"""`python -m benchmarks --quick` (the CI proof that the suite runs): every row yields numbers."""

import json
import math
import subprocess
import sys

from app.navigation import CONFIGURATION_PAGES
from factories import ROOT


def numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_quick_benchmark_produces_a_number_in_every_row(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out),
                           "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for row in ("exact", "top_k", "lanczos_vs_exact", "trace", "backpack", "cache_app", "scaling", "first_paint", "sweep",
                "parallel", "scale", "honesty", "own_model", "architectures"):
        values = list(numbers(report[row]))
        assert values, row
        assert all(math.isfinite(v) for v in values), row
    assert len(report["exact"]) == 2 and all("speedup_vs_paper" in r for r in report["exact"].values())
    assert set(report["cache_app"]["warm_page_render_s"]) == {p.title for p in CONFIGURATION_PAGES if p.url_path not in ("Sweep", "Training")}
    assert "| row | measured | target |" in proc.stdout
    for size in ("5k", "20k"):  # past the exact limit: every competitor measured, ours certified
        row = report["scale"][size]
        assert row["lanczos"]["max_residual"] < 1e-3 * abs(row["lanczos"]["top1"])
        assert {"pyhessian_default", "pyhessian_tol1e-6", "curvlinops_eigsh"} <= set(row)
    assert report["honesty"]["by_method"] and all(r["estimate_s"] > 0 for r in report["honesty"]["rows"])
    custom = {m["method"]: m for m in report["own_model"]["custom"]["methods"]}
    assert custom["lanczos"]["top1_rel_error"] < 1e-6 and "shared between modules" in custom["kfac"]["error"]
    assert set(report["architectures"]) == {"resnet", "resnet, no skips", "transformer", "claims"}
    assert all(v["held"] in (True, False) for v in report["architectures"]["claims"].values())
