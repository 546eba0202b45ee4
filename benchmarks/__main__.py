"""``python -m benchmarks [--quick] [--update-readme] [--out FILE] [--repeats N] [--data-dir DIR]``.

Full mode: MNIST 28x28 (the official test split, from ``--data-dir``, default the workspace's
data directory or ``../shared/data`` beside the project when present), N = 1,000, widths
4/8/16. ``--quick``: the same rows on small digits problems (about 30 s), which the test
suite runs to prove that every row still produces a number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(
        "Measure ours against the paper's way, PyHessian, BackPACK and the eigh floor in one process; "
        "print ratios and write JSON."))
    parser.add_argument("--quick", action="store_true", help="small problems, under 2 minutes (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the main rows (default: 3, quick: 1)")
    parser.add_argument("--data-dir", default=None, help="MNIST location (default: ../shared/data if present)")
    parser.add_argument("--cache-dir", default=None, help="joblib store for the trained models")
    parser.add_argument("--out", default=None, help="JSON output path (default: bench-<mode>.json)")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the README's benchmark table")
    args = parser.parse_args(argv)
    if args.repeats is not None and not 1 <= args.repeats <= 100:
        parser.error(f"--repeats={args.repeats} is not allowed: an integer from 1 to 100")
    if args.update_readme and args.quick:
        parser.error("--update-readme needs the full run (the README table is the full benchmark)")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    from core import library_warnings, pipeline, workspace
    from core.config import ExperimentConfig
    from core.curvature import dense

    from .app_latency import app_row
    from .architectures import architectures_row
    from .backpack_cost import backpack_row
    from .directions import directions_row
    from .exact_spectrum import exact_row
    from .first_paint import first_paint_row, import_seconds
    from .parallel_methods import parallel_row
    from .readme import markdown_table, update_readme
    from .honesty import honesty_row
    from .own_model import own_model_row
    from .scale import scale_row
    from .scaling import scaling_row
    from .shapes import print_shapes, shapes_row
    from .sweep_executors import sweep_row
    from .top_k import lanczos_vs_exact_row, top_k_row
    from .trace import trace_row
    from .what_if import edge_of_stability_row, what_if_row

    library_warnings.quiet()
    torch.manual_seed(0)
    repeats = args.repeats or (1 if args.quick else 3)
    data_dir = args.data_dir or (SHARED_DATA if SHARED_DATA.exists() else None)
    workspace.use(data_dir, args.cache_dir)
    data_dir = workspace.current().data_dir
    if args.quick:
        base = ExperimentConfig(dataset="digits", hidden=(8,), hessian_batch_size=300, epochs=3)
        widths, sweep = (4, 8), (4, 8)
        app_config = ExperimentConfig(dataset="digits", hidden=(4,), hessian_batch_size=200, epochs=3)
    else:
        base = ExperimentConfig(dataset="mnist", input_size=28, hidden=(8,), hessian_batch_size=1000,
                                train_subset=8000, epochs=5)
        widths, sweep = (4, 8, 16), (2, 4, 8, 16)
        app_config = ExperimentConfig()
    problem = pipeline.build_problem(base)
    trained = pipeline.train(base)
    report = {"main_width": str(base.hidden[0]), "date": date.today().isoformat(), "machine": platform.machine(),
              "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "mode": "quick" if args.quick else "full", "repeats": repeats, "config": base.label(),
              "dataset_used": trained.dataset_used, "P": problem.num_params}
    say = lambda name: print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
    print(f"benchmark ({report['mode']}): {base.label()}, dataset used {trained.dataset_used}, "
          f"P = {problem.num_params:,}, {report['threads']} threads", flush=True)

    say("1. exact spectrum")
    report["exact"] = {str(width): exact_row(pipeline.build_problem(base.replace(hidden=(width,))),
                                             repeats if width == base.hidden[0] else 1) for width in widths}
    say("2. top-10")
    reference = dense.eigenvalues(dense.dense_matrix(problem, dtype=torch.float64))
    report["top_k"] = top_k_row(problem, reference, repeats)
    say("2b. Lanczos top+bottom 10 vs the exact pipeline, the app's defaults")
    report["lanczos_vs_exact"] = lanczos_vs_exact_row(pipeline.build_problem(app_config), repeats)
    say("3. trace")
    report["trace"] = trace_row(problem, float(reference.sum()), 25 if args.quick else 100, repeats,
                                5 if args.quick else 20)
    say("4. BackPACK")
    report["backpack"] = backpack_row(problem, repeats)
    say("6. scaling")  # before the app row: spawned processes re-run __main__, which AppTest replaces
    report["scaling"] = scaling_row(base, sweep, data_dir)
    say("5. cache and app")
    report["cache_app"] = app_row(app_config, None if args.quick else data_dir, args.quick)

    say("8. sweep executors")
    report["sweep"] = sweep_row(args.quick)
    say("9. beyond the MLP: CNN, BatchNorm, classes")
    report["shapes"] = shapes_row(args.quick)
    print_shapes(report["shapes"])
    say("10. the default methods in worker processes")
    report["parallel"] = parallel_row(app_config, None if args.quick else data_dir)
    say("11. past the exact limit: P ~ 75k and ~ 1M")
    report["scale"] = scale_row(args.quick)
    say("12. the budget's honesty: every method's estimate against its time, on ten configurations (and the exact methods on MNIST)")
    report["honesty"] = honesty_row(args.quick, None if args.quick else data_dir)
    say("13. what directions cost: eigenvectors beside values, the landscape page cold")
    report["directions"] = directions_row(args.quick, None if args.quick else data_dir)
    say("14. what-if: a changed control's first answer and full picture in Chromium")
    report["what_if"] = None if args.quick else what_if_row(data_dir)
    say("14b. what-if: the Training page's edge-of-stability setup, cold, in Chromium")
    report["edge_of_stability"] = None if args.quick else edge_of_stability_row(data_dir)
    say("15. your own model: a module the project does not know; the README's ResNet-18 example")
    report["own_model"] = own_model_row(args.quick)
    say("16. the residual CNN with and without skips and the transformer on the offline data")
    report["architectures"] = architectures_row(args.quick)
    say("7. first paint")
    report["first_paint"] = {"imports_s": import_seconds()} if args.quick else first_paint_row(data_dir)

    path = Path(args.out or f"bench-{report['mode']}.json")
    path.write_text(json.dumps(report, indent=2))
    table = markdown_table(report)
    print(f"\nwrote {path}\n\n{table}")
    if args.update_readme:
        update_readme(table)
        print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
