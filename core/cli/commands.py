"""One function per command of ``python -m core``; each reads its parsed arguments, asks ``core``
and prints (:mod:`.output`). Every input is checked before any work (:func:`.parser.validate`,
then the configuration, the methods' options and the budget)."""

from __future__ import annotations

import itertools
import sys
import time

from .. import workspace
from ..config import FIELDS, FILE_DATASETS, ConfigError, ExperimentConfig, parse_hidden
from ..methods import REGISTRY, MethodError, get_spec
from .output import print_table, write_json, write_json_and_csv


def config_from_args(args, **changes) -> ExperimentConfig:
    """The configuration the flags give (one per field of :data:`core.config.FIELDS`), with
    ``changes`` (e.g. another ``hidden``)."""
    return ExperimentConfig(**{**{f.name: getattr(args, f.name) for f in FIELDS.values()}, **changes})


def _config(args, **changes) -> ExperimentConfig:
    """The configuration of the flags, once its training is known to fit the budget (or is cached):
    a refusal is one line before any work."""
    from .. import pipeline

    config = config_from_args(args, **changes)
    pipeline.check_trainable(config)
    return config


def _header(config: ExperimentConfig, info: dict, extra: str = "") -> None:
    print(f"\n{config.label()}  |  dataset used: {info['dataset_used']}  |  P = {info['num_params']:,}{extra}")
    if info.get("notice"):
        print(f"note: {info['notice']}")
    if config.dataset in FILE_DATASETS and info["dataset_used"] == "digits" and config.input_size != 28:
        print(f"note: --input-size {config.input_size} applies to {config.dataset} only; {info['dataset_used']} keeps its own "
              "size")
    print()


def _method_names(text: str, flag: str = "--methods") -> list[str]:
    """``all`` or comma-separated registered names, checked."""
    names = list(REGISTRY) if text == "all" else [m for m in text.split(",") if m]
    for name in names:
        if name not in REGISTRY:
            raise ConfigError(flag, name, "registered methods: " + ", ".join(REGISTRY))
    if not names:
        raise ConfigError(flag, text, "'all' or registered methods, comma separated")
    return names


def run(args) -> int:
    from ..comparison import formatted_rows, paper_table

    config = _config(args)
    summary = paper_table(config, hutchinson_samples=args.samples, top_k=args.top_k, show_bar=not args.quiet)
    info = summary["info"]
    _header(config, info, f"  |  test accuracy {info['test_accuracy']:.3f} (train {info['train_accuracy']:.3f})")
    print_table(formatted_rows(summary), summary["header"])
    for note in summary["notes"]:
        print(f"note: {note}")
    for name, error in summary["errors"].items():
        print(f"\n{name}: {error}")
    if args.out:
        write_json(args.out, summary)
    return 0


def claims(args) -> int:
    from .. import claims as table
    from .. import pipeline, studies
    from ..budget import BudgetExceeded

    config = _config(args)
    selected = _method_names(args.methods)
    found = pipeline.results_for(config, table.claim_methods(selected), args.samples)
    try:
        study = studies.hutchinson_study(config, args.samples)
    except BudgetExceeded as refusal:
        study = str(refusal)
    _header(config, pipeline.describe(config))
    verdicts = []
    for group, title in table.GROUPS.items():
        said = table.check(group, config, found, study if group == "paper" else None)
        print(title)
        for v in said:
            mark = {True: "held", False: "did not hold", None: "not checked"}[v["held"]]
            print(f"  [{mark}] {v['claim']}\n      {v['evidence']}")
        verdicts += [{"group": group, **v} for v in said]
    if args.out:
        write_json_and_csv(args.out, {"config": config.to_dict(), "verdicts": verdicts}, verdicts)
    return 0


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


def compare(args) -> int:
    from ..comparison import compare as compared
    from ..tables import COMPARE_COLUMNS

    config = _config(args)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        get_spec(m)
    comparison = compared(config, methods, _parse_options(args.option), top_k=args.top_k, show_bar=not args.quiet)
    _header(config, comparison["info"])
    print(f"errors against {comparison['reference']}\n")
    print_table([[r[c] for c in COMPARE_COLUMNS] for r in comparison["rows"]], COMPARE_COLUMNS)
    for row in comparison["rows"]:
        if row.get("error"):
            print(f"\n{row['method']}: {row['error']}")
        elif row.get("stopped") not in (None, "converged", "invariant subspace"):
            print(f"\n{row['method']}: stopped by its {row['stopped']} before every value converged (largest "
                  f"residual {row['max_residual']:.1e}); each value is within its residual of an eigenvalue")
    if args.out:
        write_json_and_csv(args.out, comparison, comparison["rows"])
    return 0


def own(args) -> int:
    from .. import own_model
    from ..tables import COMPARE_COLUMNS

    methods = _method_names(args.methods)
    options = _parse_options(args.option)
    problem = own_model.from_builder(args.model)
    info = own_model.describe(problem, args.samples)
    print(f"\n{args.model}: {info['model']}  |  P = {info['num_params']:,}  |  N = {info['batch_size']:,}  |  "
          f"C = {info['num_classes']}  |  loss {info['loss']}\n")
    print_table([[row["layer"], row["parameters"]] for row in info["layers"]], ["layer", "parameters"])
    print()
    print_table([[row["label"], row["seconds"], "yes" if row["admitted"] else "no"]
                 for row in info["methods"] if row["method"] in methods], ["method", "estimate (s)", "admitted"])
    comparison = own_model.compare(problem, methods, args.samples, options, top_k=args.top_k)
    print(f"\nerrors against {comparison['reference']}\n")
    print_table([[r[c] for c in COMPARE_COLUMNS] for r in comparison["rows"]], COMPARE_COLUMNS)
    for row in comparison["rows"]:
        if row.get("error"):
            print(f"\n{row['method']}: {row['error']}")
    if args.out:
        write_json_and_csv(args.out, comparison, comparison["rows"])
    return 0


def warm(args) -> int:
    from tqdm import tqdm

    from .. import pipeline, studies
    from ..methods import options_for

    methods = _method_names(args.methods)
    widths, activations = args.widths.split(";"), args.activations.split(",")
    for flag, given, items in (("--widths", args.widths, widths), ("--activations", args.activations, activations)):
        if not all(item.strip() for item in items):  # '' would silently mean the default
            raise ConfigError(flag, given, "a list without empty items, e.g. --widths '2;4;8' --activations relu,tanh")
    configs = [_config(args, hidden=parse_hidden(h), activation=a.strip())
               for h, a in itertools.product(widths, activations)]
    fitting = {}
    for config in configs:  # every option against every P, before any work
        fitting[config] = []
        for m in methods:
            try:
                pipeline.validate(config, m, options_for(m, args.samples))
                fitting[config].append(m)
            except MethodError as unfit:
                if args.methods != "all":  # a method the user named: its options must fit
                    raise
                print(f"{config.label()}: skipped, its defaults do not fit this P: {unfit}", file=sys.stderr)
    start = time.perf_counter()
    failures = 0
    for config in tqdm(configs, desc="warming cache", unit="configuration", disable=args.quiet):
        for error in studies.warm(config, fitting[config], args.samples, args.counterparts):
            failures += 1
            tqdm.write(f"{config.label()} {error}")
    warmed = sum(len(pipeline.selection(fitting[config])) for config in configs)
    print(f"warmed {warmed} results for {len(configs)} configurations in "
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


def sweep(args) -> int:
    from .. import sweep as sweeps

    grid, fixed, methods = sweeps.load_file(args.file) if args.file else ({}, {}, {})
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
    cells = sweeps.expand(grid, fixed, methods)  # every key and value checked before any work
    jobs = args.jobs or sweeps.default_jobs()
    results, counts = sweeps.run_sweep(cells, jobs, args.dask_scheduler, args.dask_local, show_bar=not args.quiet)
    rows = sweeps.table(cells, results)
    paths = sweeps.write_table(rows, args.out)
    print(f"{len(cells)} cells: {counts['cached']} cached, {counts['computed']} computed, {counts['failed']} "
          f"failed or refused (exact references included); wrote {', '.join(map(str, paths))}")
    return 0


def trajectory(args) -> int:
    from .. import trajectory as trajectories

    config = _config(args)
    if config.checkpoints < 1:
        raise ConfigError("--checkpoints", config.checkpoints, "at least 1 for a trajectory, e.g. 20")
    rows = _with_stage_lines(lambda: trajectories.trajectory(config, args.k), quiet=args.quiet)
    columns = ["step", "train_loss", "train_accuracy", "top", "bottom", "trace", "top_k_gradient_fraction"]
    if config.optimizer == "gd":
        columns[3:3] = ["objective_top", "objective_trace"]
    print_table([[r[c] for c in columns] for r in rows], columns)
    for what, matrix in rows[0]["matrices"].items():
        print(f"{what}: {matrix}")
    summary = trajectories.edge_of_stability(rows)
    if summary:
        within = (f"within {summary['within']:.0%} of 2/lr = {summary['two_over_lr']:.3g} from step "
                  f"{summary['steps_within'][0]} to {summary['steps_within'][1]} ({summary['count']} checkpoints)"
                  if summary["steps_within"] else f"never within {summary['within']:.0%} of 2/lr = {summary['two_over_lr']:.3g}")
        print(f"\nedge of stability, on {summary['matrix']}: peak top eigenvalue {summary['peak']:.4g} = "
              f"{summary['peak_ratio']:.2f} x 2/lr; {within} (the Hessian batch's peak: {summary['batch_peak']:.4g})")
    if args.out:
        write_json_and_csv(args.out, {"config": config.to_dict(), "rows": rows, "edge_of_stability": summary}, rows)
    return 0


def landscape(args) -> int:
    from .. import landscape as landscapes
    from .. import pipeline

    config = _config(args)
    cost = landscapes.check(config, args.points, args.grid, args.rise)  # bounds and budget, before any work
    found = landscapes.landscape(config, args.points, args.grid, args.rise)
    _header(config, pipeline.describe(config), f"  |  {landscapes.passes(args.points, args.grid):,} forward passes, "
                                               f"estimated at most {cost.seconds:.0f} s")
    columns = ["direction", "curvature", "slope", "radius", "loss_at_end", "model_at_end"]
    rows = [{"direction": line["direction"], "curvature": line["curvature"], "slope": line["slope"],
             "radius": line["radius"], "loss_at_end": line["batch"][-1], "model_at_end": line["model"][-1]}
            for line in found["lines"]]
    print_table([[r[c] for c in columns] for r in rows], columns)
    print(f"\neigenvectors of {found['source']}; loss at θ {found['loss']:.5g} (held-out "
          f"{found['held_out_loss']:.5g}); lines run to |t| = {found['span']:.3g} (eigenvectors) and α = 1 (random); "
          "radius: the largest |t| where |L − Q| ≤ 10 % of ½|dᵀHd|t²")
    if args.out:
        write_json_and_csv(args.out, {"config": config.to_dict(), **found}, rows)
    return 0


def _with_stage_lines(compute, quiet: bool = False):
    """``compute()``, printing each stage it announces (:func:`core.progress.stage`) to stderr as it
    starts, with the elapsed time, its place among the stages and the products and steps done so far."""
    import sys
    import time

    from .. import progress

    if quiet:
        return compute()
    start, said = time.monotonic(), [None]

    def show(counts):
        stage = counts.stage
        if stage is not None and stage.text != said[0]:
            said[0] = stage.text
            done = counts.describe()
            print(f"[{time.monotonic() - start:6.1f} s] {stage.text} ({stage.index + 1} of {stage.total}"
                  + (f": {done} so far)" if done else ")"), file=sys.stderr, flush=True)

    with progress.listening(show):
        return compute()


def methods(args) -> int:
    from ..losses import OUTPUT_HESSIAN

    rows = [[s.name, s.family, s.matrix, s.handles, ", ".join(f"{k}={v}" for k, v in s.defaults.items()),
             "yes" if s.stochastic else "no", "yes" if s.gpu else "no", s.reference] for s in REGISTRY.values()]
    print_table(rows, ["method", "family", "approximates", "layers", "options (defaults)", "random", "GPU", "reference"])
    print("\nConventions: the loss is always a mean over the batch. BatchNorm networks are studied in eval mode "
          "(running statistics), so the loss is a fixed function of the parameters. The GGN's output Hessian:")
    for name, words in OUTPUT_HESSIAN.items():
        print(f"  {name}: {words}")
    return 0


def data(args) -> int:
    from ..data import DataFileError, download_mnist, images, mnist_files, read_mnist_split

    data_dir = workspace.current().data_dir
    name = getattr(args, "dataset", "mnist")
    where = data_dir / "MNIST" / "raw" if name == "mnist" else images.folder(data_dir, name)
    if args.action == "download":
        print(f"downloading {name} into {where} (torchvision checks its MD5s) ...")
        try:
            download_mnist(data_dir) if name == "mnist" else images.download(name, data_dir)
        except Exception as error:  # noqa: BLE001 - no network, a mirror down: say so
            print(f"error: the download failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}",
                  file=sys.stderr)
            return 1
    listed = mnist_files(data_dir) if name == "mnist" else images.files(name, data_dir)
    for stem, path in listed.items():
        print(f"{stem}: {path if path else 'missing'}")
    read = {"mnist": read_mnist_split, "fashion-mnist": images.read_fashion_split,
            "cifar10": images.read_cifar_split}[name]
    for split in ("train", "test"):
        try:
            found = read(data_dir, split)
            print(f"{split} split: " + ("missing" if found is None else f"{len(found[0]):,} images, verified"))
        except DataFileError as error:
            print(f"{split} split: not usable: {error}")
    return 0
