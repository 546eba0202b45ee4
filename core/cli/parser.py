"""The command line's parser: every configuration flag built from the field table
(:data:`core.config.FIELDS`), each command's own options, and their checks before any work."""

from __future__ import annotations

import argparse
import os

from .. import paper, workspace
from ..config import FIELDS, ConfigError, ExperimentConfig
from ..methods import DEFAULT_SAMPLES
from . import commands

DEFAULTS = ExperimentConfig()


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what is wrong and the allowed values) and
    exit 2, like every other bad input; ``--help`` still shows the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _converted(f, text: str):
    """A flag's text as a value of its field's kind (the configuration checks its bounds, naming
    the field); argparse turns an error into one line."""
    try:
        return f.convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(str(ConfigError(f.name, text, f.allowed))) from None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per configuration field, from its facts (flag, kind, choices, default, help)."""
    group = parser.add_argument_group("experiment (defaults: the app's default configuration)")
    for f in FIELDS.values():
        if f.kind == "bool":
            group.add_argument(f.cli_flag, dest=f.name, action="store_true", help=f.help)
            continue
        default = getattr(DEFAULTS, f.name)
        group.add_argument(f.cli_flag, dest=f.name, default=default, type=lambda text, f=f: _converted(f, text),
                           choices=list(f.choices) if f.kind == "choice" else None,
                           metavar=None if f.kind == "choice" else f.name.upper(),
                           help=f"{f.help} (default: {f.format(default)})")
    storage = parser.add_argument_group("storage")
    storage.add_argument("--data-dir", default=None,
                         help="where MNIST lives or is downloaded to (default: $HESSIAN_DATA_DIR or ./data)")
    storage.add_argument("--cache-dir", default=None, help="joblib store (default: $HESSIAN_CACHE_DIR or ./cache)")


def _command(sub, name: str, func, help: str, description: str, config: bool = True) -> argparse.ArgumentParser:
    """A subcommand that runs ``func``, with the configuration flags unless ``config`` is False."""
    command = sub.add_parser(name, help=help, description=description)
    if config:
        add_config_arguments(command)
    command.set_defaults(func=func)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m core", description=(
        "Hessian spectrum explorer: train a small network, compute its exact Hessian/GGN spectrum and "
        "compare PyHessian, BackPACK and matrix-free approximations. Results are cached (joblib)."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = _command(sub, "run", commands.run, help="the paper's table: exact Hessian vs PyHessian",
                         description="Print the paper's table (trace, largest/smallest eigenvalue, "
                                     "their times, P, accuracy, dataset used) for one configuration.")
    run.add_argument("--samples", type=int, default=paper.HUTCHINSON_SAMPLES,
                     help="Hutchinson samples for PyHessian's trace (default: the paper's %(default)s)")
    run.add_argument("--top-k", type=int, default=paper.TOP_K, help="eigenvalues compared at the top (default: %(default)s)")
    run.add_argument("--out", help="write the table and all numbers as JSON here")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    claims = _command(sub, "claims", commands.claims, help="the published claims checked on one configuration: held or not, "
                                           "with the numbers",
                            description="Check every claim of the claims table that the chosen methods make "
                                        "checkable, on this configuration, against its exact Hessian.")
    claims.add_argument("--methods", default="all", help="comma-separated names or 'all' (default: %(default)s)")
    claims.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                        help="Hutchinson sample count of the trace study, as in the app (default: %(default)s)")
    claims.add_argument("--out", help="write the verdicts as JSON here and CSV beside it")

    compare = _command(sub, "compare", commands.compare, help="compare methods against the exact Hessian",
                             description="Run methods and compare each with the exact Hessian: top-k relative "
                                         "errors, trace error, Wasserstein-1 distance of spectra, cost.")
    compare.add_argument("--methods", default="exact_hessian,pyhessian_top_k,lanczos,hutchinson,hutchpp",
                         help="comma-separated registry names; see `python -m core methods` (default: %(default)s)")
    compare.add_argument("--option", action="append", metavar="METHOD.OPTION=VALUE",
                         help="a method option, repeatable, e.g. hutchinson.samples=200")
    compare.add_argument("--top-k", type=int, default=paper.TOP_K, help="(default: %(default)s)")
    compare.add_argument("--out", help="write JSON here and CSV beside it (same name, .csv)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")

    warm = _command(sub, "warm", commands.warm, help="precompute configurations into the cache (before a talk)",
                          description="Compute every method for every width x activation so the app "
                                      "serves them instantly and offline.")
    warm.add_argument("--widths", default="4;8;16", help="width settings separated by ';', each like 16 or 16,8 (default: %(default)s)")
    warm.add_argument("--activations", default="relu", help="comma-separated (default: %(default)s)")
    warm.add_argument("--methods", default="all", help="comma-separated names or 'all' (default: %(default)s)")
    warm.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                      help="Hutchinson sample count, as in the app (default: %(default)s)")
    warm.add_argument("--counterparts", action="store_true",
                      help="also the counterpart runs Home compares with on request (the other loss, BatchNorm "
                           "toggled): two more trainings per configuration")
    warm.add_argument("--quiet", action="store_true")

    sweep = _command(sub, "sweep", commands.sweep, help="a grid of configurations x methods, cached cell by cell, on local "
                                         "processes or a Dask cluster",
                           description="Run every (configuration, method, options) cell of a grid through the cache "
                                       "and write one tidy table (CSV, and Parquet or JSON). A stopped sweep started "
                                       "again computes only the cells it lacks.")
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

    traj = _command(sub, "trajectory", commands.trajectory, help="the spectrum along training: top eigenvalue vs 2/lr, trace, "
                                             "gradient in the top eigenspace, at every checkpoint",
                          description="Train with --checkpoints N (e.g. full-batch GD: --optimizer gd --lr 0.5) and "
                                      "compute, at every checkpoint, the top/bottom eigenvalue and trace (exact where cheap, else "
                                      "certified Lanczos and Hutchinson), the "
                                      "approximations' top-1 and trace, and the gradient's fraction in the top-k "
                                      "eigenspace. Cached per checkpoint: a stopped run resumes.")
    traj.add_argument("--k", type=int, default=10, help="top eigenspace dimension for the gradient (default: %(default)s)")
    traj.add_argument("--out", help="write JSON here and CSV beside it")
    traj.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    land = _command(sub, "landscape", commands.landscape, help="the loss along the top eigenvectors and random "
                                                                "filter-normalised directions, with the quadratic model",
                    description="The loss (Hessian batch and held-out) along the top 3 Hessian eigenvectors and 2 "
                                "filter-normalised random directions (Li et al. 2018), each against its quadratic "
                                "model, with the radius within which the model's curvature term holds to 10 %; the "
                                "plane of v1 and v2 in the JSON. Budgeted and cached, as the Loss landscape page.")
    land.add_argument("--points", type=int, default=41, help="points per line (default: %(default)s)")
    land.add_argument("--grid", type=int, default=21, help="points a side of the plane (default: %(default)s)")
    land.add_argument("--rise", type=float, default=1.0,
                      help="the lines' range: where the top eigenvalue's model rises by this many nats (default: "
                           "%(default)s)")
    land.add_argument("--out", help="write JSON here and CSV (the lines) beside it")

    data = _command(sub, "data", commands.data, config=False, help="check a dataset's files, or download them (the only "
                                                                     "time anything is downloaded)",
                          description="`data check` verifies the files of MNIST, Fashion-MNIST or CIFAR-10 in the data "
                                      "directory against the official checksums; `data download` fetches them with "
                                      "torchvision first.")
    data.add_argument("action", choices=("check", "download"))
    data.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "cifar10"),
                      help="(default: %(default)s)")
    data.add_argument("--data-dir", default=None, help="where MNIST lives (default: $HESSIAN_DATA_DIR or ./data)")

    own = _command(sub, "own", commands.own, config=False,
                   help="your own model: a builder's model, loss and batch through the methods",
                   description="Import package.module:function (it returns model, x, y or model, x, y, loss), print "
                               "the model's layer table, P and each method's estimate, then run the methods and "
                               "compare each with the exact Hessian, or past the exact limit with certified Lanczos. "
                               "Cached by a fingerprint of the parameters and the batch.")
    own.add_argument("--model", required=True, metavar="PACKAGE.MODULE:FUNCTION",
                     help="the builder, imported from the current folder or the installed packages")
    own.add_argument("--methods", default="exact_hessian,lanczos,hutchinson,hutchpp,diag_ggn_exact,kfac",
                     help="comma-separated registry names or 'all' (default: %(default)s)")
    own.add_argument("--option", action="append", metavar="METHOD.OPTION=VALUE",
                     help="a method option, repeatable, e.g. lanczos.k=3")
    own.add_argument("--samples", type=int, default=None,
                     help="Hutchinson sample count for the methods that take one (default: each method's own)")
    own.add_argument("--top-k", type=int, default=paper.TOP_K, help="(default: %(default)s)")
    own.add_argument("--out", help="write JSON here and CSV beside it (same name, .csv)")
    storage = own.add_argument_group("storage")
    storage.add_argument("--cache-dir", default=None, help="joblib store (default: $HESSIAN_CACHE_DIR or ./cache)")

    _command(sub, "methods", commands.methods, config=False, help="list the registered methods and their options",
             description="The method registry: names, families, what each approximates, options, references.")
    return parser


def bounded(name: str, value, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(name, value, f"an integer from {low} to {high}")


def validate(args: argparse.Namespace) -> None:
    """Every CLI-only input checked before any work: output paths, counts, method lists, budget."""
    from ..budget import Budget
    from ..cache import check_store

    Budget()  # $HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS must be positive and finite
    out = getattr(args, "out", None)
    if out is not None:
        from .output import output_paths

        # before any work: a folder, a link, a device, a read-only folder, a taken sibling
        output_paths(out, with_csv=getattr(args, "command", None) in ("compare", "claims", "trajectory", "landscape", "own"))
    bounded("--top-k", getattr(args, "top_k", None), 1, 1000)
    bounded("--samples", getattr(args, "samples", None), 1, 100_000)
    bounded("--jobs", getattr(args, "jobs", None), 0, os.cpu_count() or 1)  # 0: every core; more only contend
    bounded("--dask-local", getattr(args, "dask_local", None), 0, os.cpu_count() or 1)  # one process a core
    if getattr(args, "dask_scheduler", None) is not None:
        from ..sweep import check_scheduler_address

        check_scheduler_address(args.dask_scheduler)
    bounded("--k", getattr(args, "k", None), 1, 1000)
    if getattr(args, "command", None) in ("compare", "own") and not [m for m in args.methods.split(",") if m]:
        raise ConfigError("--methods", args.methods, "at least one registered method, comma separated")
    if hasattr(args, "cache_dir"):
        check_store(workspace.current().cache_dir)
