"""Command line: ``python -m core {run,compare,warm,sweep,data,methods}``.

``run`` prints the paper's table (exact Hessian vs PyHessian) for one configuration;
``compare`` runs any set of methods and prints the comparison with the exact Hessian;
``warm`` precomputes everything the app shows for some configurations before a talk;
``sweep`` runs a grid of configurations x methods cell by cell (local processes or Dask);
``data`` checks or downloads MNIST; ``methods`` lists the registry. (The benchmarks are ``python -m benchmarks``.) Results are
cached, so a repeated command is instant. Bad input prints one clear line and exits with
status 2, computing nothing.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
from pathlib import Path

from . import library_warnings, workspace
from .config import (ACTIVATIONS, ARCHITECTURES, DATASETS, LOSS_NAMES, MNIST_INPUT_SIZES, OPTIMIZERS, ConfigError,
                     ExperimentConfig, parse_hidden)
from .methods import DEFAULT_SAMPLES, REGISTRY, MethodError, get_spec

DEFAULTS = ExperimentConfig()


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("experiment (defaults: the app's default configuration)")
    g.add_argument("--architecture", default=DEFAULTS.architecture, choices=ARCHITECTURES,
                   help="mlp, or cnn: 3x3 convolutions + 2x2 max pooling then a linear head; --hidden gives "
                        "its channel counts (default: %(default)s)")
    g.add_argument("--batch-norm", action="store_true",
                   help="BatchNorm after each hidden linear / convolution; the Hessian is taken in eval mode")
    g.add_argument("--loss", default=DEFAULTS.loss, choices=LOSS_NAMES,
                   help="cross_entropy, or mse: squared error on one-hot targets, mean over N x C (default: %(default)s)")
    g.add_argument("--classes", type=int, default=DEFAULTS.num_classes,
                   help="C: train and study the first C classes only, 2 to 10 (default: %(default)s)")
    g.add_argument("--dataset", default=DEFAULTS.dataset, choices=DATASETS,
                   help="mnist falls back to sklearn's 8x8 digits when MNIST cannot be had (default: %(default)s)")
    g.add_argument("--input-size", type=int, default=DEFAULTS.input_size, choices=MNIST_INPUT_SIZES,
                   help="MNIST side length after average pooling (default: %(default)s)")
    g.add_argument("--hidden", default=",".join(map(str, DEFAULTS.hidden)),
                   help="hidden widths (mlp) or channel counts (cnn), comma separated, e.g. 16,8 "
                        "(default: %(default)s)")
    g.add_argument("--activation", default=DEFAULTS.activation, choices=ACTIVATIONS,
                   help="hidden activation (default: %(default)s)")
    g.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="training epochs (default: %(default)s)")
    g.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=OPTIMIZERS, help="(default: %(default)s)")
    g.add_argument("--lr", type=float, default=DEFAULTS.lr, help="learning rate (default: %(default)s)")
    g.add_argument("--train-batch-size", type=int, default=DEFAULTS.train_batch_size,
                   help="mini-batch size for training (default: %(default)s)")
    g.add_argument("--train-subset", type=int, default=DEFAULTS.train_subset,
                   help="training examples used (default: %(default)s)")
    g.add_argument("--hessian-batch", type=int, default=DEFAULTS.hessian_batch_size,
                   help="N, size of the fixed batch whose Hessian is studied (default: %(default)s)")
    g.add_argument("--seed", type=int, default=DEFAULTS.seed, help="(default: %(default)s)")
    g.add_argument("--synthetic-dim", type=int, default=DEFAULTS.synthetic_dim,
                   help="input dimension of the synthetic task (default: %(default)s)")
    g.add_argument("--checkpoints", type=int, default=DEFAULTS.checkpoints,
                   help="parameter snapshots kept during training, log-spaced (default: %(default)s)")
    g.add_argument("--checkpoint", type=int, default=DEFAULTS.checkpoint,
                   help="the snapshot whose Hessian is studied, -1 for the final one (default: %(default)s)")
    g.add_argument("--device", default=DEFAULTS.device, choices=("cpu", "cuda", "auto"),
                   help="where to compute; auto: the GPU when there is one (default: $HESSIAN_DEVICE or cpu)")
    s = parser.add_argument_group("storage")
    s.add_argument("--data-dir", default=None,
                   help="where MNIST lives or is downloaded to (default: $HESSIAN_DATA_DIR or ./data)")
    s.add_argument("--cache-dir", default=None, help="joblib store (default: $HESSIAN_CACHE_DIR or ./cache)")


def config_from_args(args: argparse.Namespace, hidden: str | None = None,
                     activation: str | None = None) -> ExperimentConfig:
    return ExperimentConfig(
        architecture=args.architecture, batch_norm=args.batch_norm, loss=args.loss, num_classes=args.classes,
        dataset=args.dataset, input_size=args.input_size,
        hidden=parse_hidden(hidden if hidden is not None else args.hidden),
        activation=activation or args.activation, epochs=args.epochs, optimizer=args.optimizer,
        lr=args.lr, train_batch_size=args.train_batch_size, train_subset=args.train_subset,
        hessian_batch_size=args.hessian_batch, seed=args.seed, synthetic_dim=args.synthetic_dim, device=args.device,
        checkpoints=args.checkpoints, checkpoint=args.checkpoint)


def trainable(config: ExperimentConfig) -> ExperimentConfig:
    """``config``, once its training is known to fit the budget (or is cached): a refusal is one
    line before any work (:func:`core.pipeline.check_training`)."""
    from . import pipeline

    if not pipeline.is_trained(config):
        pipeline.check_training(config)
    return config


def print_table(rows: list[list], header: list[str], out=sys.stdout) -> None:
    from .tables import format_cell

    cells = [[format_cell(c) for c in row] for row in [header] + rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=out)


# ----------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    from . import claims

    config = trainable(config_from_args(args))
    summary = claims.paper_table(config, hutchinson_samples=args.samples, top_k=args.top_k,
                                 progress=not args.quiet)
    info = summary["info"]
    print(f"\n{config.label()}  |  dataset used: {info['dataset_used']}  |  P = {info['num_params']:,}"
          f"  |  test accuracy {info['test_accuracy']:.3f} (train {info['train_accuracy']:.3f})")
    if info.get("notice"):
        print(f"note: {info['notice']}")
    print()
    print_table(claims.formatted_rows(summary), summary["header"])
    for name, error in summary["errors"].items():
        print(f"\n{name}: {error}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
        print(f"\nwrote {args.out}")
    return 0


def cmd_compare(args) -> int:
    from . import claims
    from .tables import COMPARE_COLUMNS

    config = trainable(config_from_args(args))
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        get_spec(m)
    options = _parse_options(args.option)
    comparison = claims.compare(config, methods, options, top_k=args.top_k, progress=not args.quiet)
    info = comparison["info"]
    print(f"\n{config.label()}  |  dataset used: {info['dataset_used']}  |  P = {info['num_params']:,}")
    if info.get("notice"):
        print(f"note: {info['notice']}")
    print()
    print_table([[r[c] for c in COMPARE_COLUMNS] for r in comparison["rows"]], COMPARE_COLUMNS)
    for row in comparison["rows"]:
        if row.get("error"):
            print(f"\n{row['method']}: {row['error']}")
    if args.out:
        write_json_and_csv(args.out, comparison, comparison["rows"])
    return 0


def write_json_and_csv(out: str, document: dict, rows: list[dict]) -> None:
    """``document`` as JSON at ``out`` (``.json`` when ``out`` names a ``.csv``) and ``rows`` as CSV beside it."""
    path = Path(out)
    path = path.with_suffix(".json") if path.suffix == ".csv" else path
    path.write_text(json.dumps(document, indent=2))
    csv_path = path.with_suffix(".csv")
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {path} and {csv_path}")


def _parse_options(pairs: list[str]) -> dict[str, dict]:
    """``method.option=value`` pairs into ``{method: {option: value}}``."""
    options: dict[str, dict] = {}
    for pair in pairs or []:
        if "=" not in pair or "." not in pair.split("=", 1)[0]:
            raise ConfigError("--option", pair, "method.option=value, e.g. hutchinson.samples=100")
        key, value = pair.split("=", 1)
        method, option = key.split(".", 1)
        options.setdefault(method, {})[option] = value
    return options


def cmd_warm(args) -> int:
    from tqdm import tqdm

    from . import pipeline, studies
    from .methods import check_for_size, options_for, resolve_options
    from .pipeline import selection

    methods = list(REGISTRY) if args.methods == "all" else [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in REGISTRY:
            raise ConfigError("--methods", m, "registered methods: " + ", ".join(REGISTRY))
    if not methods:
        raise ConfigError("--methods", args.methods, "'all' or registered methods, comma separated")
    configs = [config_from_args(args, hidden=h, activation=a)
               for h, a in itertools.product(args.widths.split(";"), args.activations.split(","))]
    for config in configs:  # every option against every P, before any work
        trainable(config)
        p = pipeline.size(config)[0]
        for m in methods:
            check_for_size(m, resolve_options(m, options_for(m, args.samples)), p)
    start = time.perf_counter()
    failures = 0
    for config in tqdm(configs, desc="warming cache", unit="configuration", disable=args.quiet):
        for error in studies.warm(config, methods, args.samples, args.counterparts):
            failures += 1
            tqdm.write(f"{config.label()} {error}")
    print(f"warmed {len(configs) * len(selection(methods))} results for {len(configs)} configurations in "
          f"{time.perf_counter() - start:.1f} s ({failures} could not run; see above)")
    return 0


def _split_values(text: str) -> list:
    """``"4;8;16,8"`` -> ["4", "8", "16,8"]; numbers become numbers."""
    values = []
    for part in text.split(";"):
        part = part.strip()
        try:
            values.append(int(part))
        except ValueError:
            try:
                values.append(float(part))
            except ValueError:
                values.append(part)
    return values


def cmd_sweep(args) -> int:
    from . import sweep

    if args.file:
        grid, fixed, methods = sweep.load_file(args.file)
    else:
        grid, fixed, methods = {}, {}, {}
    for pair in args.grid or []:
        if "=" not in pair:
            raise ConfigError("--grid", pair, "FIELD=v1;v2;..., e.g. activation=relu;tanh or hidden=4;8;16,8")
        name, text = pair.split("=", 1)
        grid[name] = _split_values(text)
    base = config_from_args(args).to_dict()
    fixed = {**{k: v for k, v in base.items() if k not in grid}, **fixed}
    for method in [m for m in (args.methods or "").split(",") if m]:
        methods.setdefault(method, {})
    for method, options in _parse_options(args.option).items():
        if method not in methods:
            raise ConfigError("--option", method, "options of methods given with --methods or in the file")
        methods[method].update({k: _split_values(v) if ";" in v else v for k, v in options.items()})
    cells = sweep.expand(grid, fixed, methods)  # every key and value checked before any work
    jobs = args.jobs or sweep.default_jobs()
    results, counts = sweep.run_sweep(cells, jobs, args.dask_scheduler, args.dask_local, progress=not args.quiet)
    rows = sweep.table(cells, results)
    paths = sweep.write_table(rows, args.out)
    print(f"{len(cells)} cells: {counts['cached']} cached, {counts['computed']} computed, {counts['failed']} "
          f"failed or refused (exact references included); wrote {', '.join(map(str, paths))}")
    return 0


def cmd_trajectory(args) -> int:
    from . import trajectory

    config = trainable(config_from_args(args))
    if config.checkpoints < 1:
        raise ConfigError("--checkpoints", config.checkpoints, "at least 1 for a trajectory, e.g. 20")
    _bounded("--k", args.k, 1, 1000)
    rows = trajectory.trajectory(config, args.k)
    columns = ["step", "train_loss", "train_accuracy", "top", "bottom", "trace", "top_k_gradient_fraction"]
    print_table([[r[c] for c in columns] for r in rows], columns)
    summary = trajectory.edge_of_stability(rows)
    if summary:
        within = (f"within {summary['within']:.0%} of 2/lr = {summary['two_over_lr']:.3g} from step "
                  f"{summary['steps_within'][0]} to {summary['steps_within'][1]} ({summary['count']} checkpoints)"
                  if summary["steps_within"] else f"never within {summary['within']:.0%} of 2/lr = {summary['two_over_lr']:.3g}")
        print(f"\nedge of stability: peak top eigenvalue {summary['peak']:.4g} = {summary['peak_ratio']:.2f} x 2/lr; {within}")
    if args.out:
        write_json_and_csv(args.out, {"config": config.to_dict(), "rows": rows, "edge_of_stability": summary}, rows)
    return 0


def cmd_methods(args) -> int:
    from .losses import OUTPUT_HESSIAN

    rows = [[s.name, s.family, s.matrix, s.handles, ", ".join(f"{k}={v}" for k, v in s.defaults.items()),
             s.reference] for s in REGISTRY.values()]
    print_table(rows, ["method", "family", "approximates", "layers", "options (defaults)", "reference"])
    print("\nConventions: the loss is always a mean over the batch. BatchNorm networks are studied in eval mode "
          "(running statistics), so the loss is a fixed function of the parameters. The GGN's output Hessian:")
    for name, words in OUTPUT_HESSIAN.items():
        print(f"  {name}: {words}")
    return 0


def cmd_data(args) -> int:
    from .data import download_mnist, mnist_files, read_mnist_split, DataFileError

    data_dir = workspace.current().data_dir
    if args.action == "download":
        print(f"downloading MNIST into {data_dir / 'MNIST' / 'raw'} (torchvision checks its MD5s) ...")
        try:
            download_mnist(data_dir)
        except Exception as error:  # noqa: BLE001 - no network, a mirror down: say so
            print(f"error: the download failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}",
                  file=sys.stderr)
            return 1
    for stem, path in mnist_files(data_dir).items():
        print(f"{stem}: {path if path else 'missing'}")
    for split in ("train", "test"):
        try:
            found = read_mnist_split(data_dir, split)
            print(f"{split} split: " + ("missing" if found is None else f"{len(found[0]):,} images, verified"))
        except DataFileError as error:
            print(f"{split} split: not usable: {error}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what is wrong and the allowed values) and
    exit 2, like every other bad input; ``--help`` still shows the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m core", description=(
        "Hessian spectrum explorer: train a small MLP, compute its exact Hessian/GGN spectrum and "
        "compare PyHessian, BackPACK and matrix-free approximations. Results are cached (joblib)."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser("run", help="the paper's table: exact Hessian vs PyHessian",
                         description="Print the paper's table (trace, largest/smallest eigenvalue, "
                                     "their times, P, accuracy, dataset used) for one configuration.")
    add_config_arguments(run)
    run.add_argument("--samples", type=int, default=25, help="Hutchinson samples for PyHessian's trace (default: %(default)s)")
    run.add_argument("--top-k", type=int, default=10, help="eigenvalues compared at the top (default: %(default)s)")
    run.add_argument("--out", help="write the table and all numbers as JSON here")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="compare methods against the exact Hessian",
                             description="Run methods and compare each with the exact Hessian: top-k relative "
                                         "errors, trace error, Wasserstein-1 distance of spectra, cost.")
    add_config_arguments(compare)
    compare.add_argument("--methods", default="exact_hessian,pyhessian_top_k,lanczos,hutchinson,hutchpp",
                         help="comma-separated registry names; see `python -m core methods` (default: %(default)s)")
    compare.add_argument("--option", action="append", metavar="METHOD.OPTION=VALUE",
                         help="a method option, repeatable, e.g. hutchinson.samples=200")
    compare.add_argument("--top-k", type=int, default=10, help="(default: %(default)s)")
    compare.add_argument("--out", help="write JSON here and CSV beside it (same name, .csv)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(func=cmd_compare)

    warm = sub.add_parser("warm", help="precompute configurations into the cache (before a talk)",
                          description="Compute every method for every width x activation so the app "
                                      "serves them instantly and offline.")
    add_config_arguments(warm)
    warm.add_argument("--widths", default="4;8;16", help="width settings separated by ';', each like 16 or 16,8 (default: %(default)s)")
    warm.add_argument("--activations", default="relu", help="comma-separated (default: %(default)s)")
    warm.add_argument("--methods", default="all", help="comma-separated names or 'all' (default: %(default)s)")
    warm.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                      help="Hutchinson sample count, as in the app (default: %(default)s)")
    warm.add_argument("--counterparts", action="store_true",
                      help="also the counterpart runs Home compares with on request (the other loss, BatchNorm "
                           "toggled): two more trainings per configuration")
    warm.add_argument("--quiet", action="store_true")
    warm.set_defaults(func=cmd_warm)

    sweep = sub.add_parser("sweep", help="a grid of configurations x methods, cached cell by cell, on local "
                                         "processes or a Dask cluster",
                           description="Run every (configuration, method, options) cell of a grid through the cache "
                                       "and write one tidy table (CSV, and Parquet or JSON). A stopped sweep started "
                                       "again computes only the cells it lacks.")
    add_config_arguments(sweep)
    sweep.add_argument("--file", help="a TOML sweep file with [grid], [config] and [methods] (see core/sweep.py)")
    sweep.add_argument("--grid", action="append", metavar="FIELD=V1;V2",
                       help="a configuration field and its values, repeatable, e.g. activation=relu;tanh or "
                            "hidden=4;8;16,8")
    sweep.add_argument("--methods", help="comma-separated registry names")
    sweep.add_argument("--option", action="append", metavar="METHOD.OPTION=V1;V2",
                       help="a method option (values separated by ';' are swept), repeatable")
    sweep.add_argument("-j", "--jobs", type=int, default=1, help="local worker processes (0: all cores; default: 1)")
    sweep.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT",
                       help="run the cells on an existing Dask cluster (the cache directory must be shared storage)")
    sweep.add_argument("--dask-local", type=int, default=0, metavar="N",
                       help="start a local Dask cluster of N workers for the sweep (and stop it after)")
    sweep.add_argument("--out", default="sweep.csv", help="table path; .parquet or .json beside it (default: %(default)s)")
    sweep.add_argument("--quiet", action="store_true")
    sweep.set_defaults(func=cmd_sweep)

    traj = sub.add_parser("trajectory", help="the spectrum along training: top eigenvalue vs 2/lr, trace, "
                                             "gradient in the top eigenspace, at every checkpoint",
                          description="Train with --checkpoints N (e.g. full-batch GD: --optimizer gd --lr 0.5) and "
                                      "compute, at every checkpoint, the exact top/bottom eigenvalue and trace, the "
                                      "approximations' top-1 and trace, and the gradient's fraction in the top-k "
                                      "eigenspace. Cached per checkpoint: a stopped run resumes.")
    add_config_arguments(traj)
    traj.add_argument("--k", type=int, default=10, help="top eigenspace dimension for the gradient (default: %(default)s)")
    traj.add_argument("--out", help="write JSON here and CSV beside it")
    traj.set_defaults(func=cmd_trajectory)

    data = sub.add_parser("data", help="check the MNIST files, or download them (the only time anything is downloaded)",
                          description="`data check` verifies the MNIST files in the data directory against the "
                                      "official checksums; `data download` fetches them with torchvision first.")
    data.add_argument("action", choices=("check", "download"))
    data.add_argument("--data-dir", default=None, help="where MNIST lives (default: $HESSIAN_DATA_DIR or ./data)")
    data.set_defaults(func=cmd_data)

    methods = sub.add_parser("methods", help="list the registered methods and their options")
    methods.set_defaults(func=cmd_methods)

    return parser


def _bounded(name: str, value, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(name, value, f"an integer from {low} to {high}")


def validate(args: argparse.Namespace) -> None:
    """Every CLI-only input checked before any work: output paths, counts, method lists, budget."""
    from .budget import Budget
    from .cache import check_store

    Budget()  # $HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS must be positive and finite
    out = getattr(args, "out", None)
    if out is not None:
        path = Path(out)
        if path.is_dir():
            raise ConfigError("--out", out, "a file path, not an existing directory")
        if not path.parent.is_dir():
            raise ConfigError("--out", out, f"a path in an existing directory ({path.parent} is not one)")
    _bounded("--top-k", getattr(args, "top_k", None), 1, 1000)
    _bounded("--samples", getattr(args, "samples", None), 1, 100_000)
    _bounded("--jobs", getattr(args, "jobs", None), 0, 256)
    _bounded("--dask-local", getattr(args, "dask_local", None), 0, 64)
    if getattr(args, "command", None) == "compare" and not [m for m in args.methods.split(",") if m]:
        raise ConfigError("--methods", args.methods, "at least one registered method, comma separated")
    if hasattr(args, "cache_dir"):
        check_store(workspace.current().cache_dir)


def main(argv: list[str] | None = None) -> int:
    library_warnings.quiet()
    parser = build_parser()
    args = parser.parse_args(argv)
    workspace.use(getattr(args, "data_dir", None), getattr(args, "cache_dir", None))
    from .budget import BudgetExceeded
    from .cache import CacheError
    from .sweep import SweepError

    try:
        validate(args)
        return args.func(args)
    except (ConfigError, MethodError, CacheError, BudgetExceeded, SweepError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what finished is cached, the interrupted entry is not
        print("interrupted: results finished before are cached; the one interrupted was not kept", file=sys.stderr)
        return 130
