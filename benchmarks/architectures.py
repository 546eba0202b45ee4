"""Row 16: the new architectures on the offline data. A residual CNN with and without its skips
and a small transformer on scikit-learn's 8x8 digits (the app's offline data), every registered
method's error and time against the exact Hessian (or its one-line refusal), each configuration
cold in its own store; and the two claims they make checkable, as measured.

``python -m benchmarks.architectures [--quick]`` runs this row alone and prints it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from core import claims, comparison, pipeline, studies, workspace
from core.config import ExperimentConfig
from core.methods import REGISTRY

COMMON = dict(dataset="digits", epochs=10, train_subset=1437, hessian_batch_size=1000)
QUICK_COMMON = dict(dataset="digits", epochs=2, train_subset=300, hessian_batch_size=100)


def configurations(quick: bool) -> dict[str, ExperimentConfig]:
    common = QUICK_COMMON if quick else COMMON
    # the residual CNN of width 4 (P = 986): its exact spectrum is estimated at 71 s with N = 1,000
    # (width 8, P = 2,538: 656 s, over the default budget)
    resnet = ExperimentConfig(architecture="resnet", hidden=(3,) if quick else (4,), **common)
    return {"resnet": resnet, "resnet, no skips": resnet.replace(no_skips=True),
            "transformer": ExperimentConfig(architecture="transformer", hidden=(3,) if quick else (8,), **common)}


def _methods_row(config: ExperimentConfig) -> dict:
    start = time.perf_counter()
    compared = comparison.compare(config, [m for m in REGISTRY if m != "exact_hessian"])
    rows = [{k: row.get(k) for k in ("method", "top1_rel_error", "trace_rel_error", "w1_spectrum", "seconds",
                                      "error")} for row in compared["rows"]]
    return {"P": compared["info"]["num_params"], "label": config.label(), "wall_s": time.perf_counter() - start,
            "reference": compared["reference"], "methods": rows}


def architectures_row(quick: bool) -> dict:
    found = {}
    with tempfile.TemporaryDirectory() as store, workspace.using(cache_dir=store):
        chosen = configurations(quick)
        for name, config in chosen.items():
            found[name] = _methods_row(config)
        verdicts = {}
        for name, field in (("resnet", "no_skips"), ("transformer", "architecture")):
            config = chosen[name]
            study = studies.counterpart_study(config, field)
            exact = pipeline.run(config, "exact_hessian")
            wanted = claims.SKIPS_CLAIM if field == "no_skips" else claims.HETEROGENEITY_CLAIM
            said = claims.check("shape", config, {"exact_hessian": exact}, counterparts={field: study})
            # the claim's verdict, or the one saying why the comparison could not run
            verdicts[field] = [v for v in said if v["claim"] == wanted or v["claim"].startswith("Counterpart")][0]
        found["claims"] = verdicts
    return found


def print_row(row: dict) -> None:
    for name, found in row.items():
        if name == "claims":
            for verdict in found.values():
                print(f"\n{'held' if verdict['held'] else 'not held'}: {verdict['claim']}\n  {verdict['evidence']}")
            continue
        print(f"\n{found['label']}: P = {found['P']:,}, {found['wall_s']:.1f} s in all; errors against "
              f"{found['reference']}")
        for m in found["methods"]:
            if m["error"]:
                print(f"  {m['method']:22s} {m['error'][:120]}")
                continue
            cells = [f"{k} {m[k]:.1e}" for k in ("top1_rel_error", "trace_rel_error", "w1_spectrum") if m[k] is not None]
            print(f"  {m['method']:22s} {m['seconds']:7.2f} s  " + ", ".join(cells))


if __name__ == "__main__":
    from core import library_warnings

    library_warnings.quiet()
    found = architectures_row("--quick" in sys.argv)
    print_row(found)
    if "--out" in sys.argv:
        from pathlib import Path

        Path(sys.argv[sys.argv.index("--out") + 1]).write_text(json.dumps(found, indent=1, default=float))
