"""Row 9: beyond the one MLP. Every registered method with the app's default options on a CNN
and on a BatchNorm MLP (top-1 and trace error against the exact Hessian, seconds), and the
outlier count against the number of classes C at P near 5,000 (:func:`core.outliers.outliers`).

Full: a one-block CNN with 8 channels on 14x14 MNIST (P = 4,010) and a width-6 BatchNorm MLP
on 28x28 MNIST (P = 4,786), N = 1,000; width-6 MLPs on 28x28 MNIST for C = 2, 5, 10
(P = 4,724 to 4,780). Quick: the same rows on the 8x8 digits with N = 200.
"""

from __future__ import annotations

import time

from core import metrics, pipeline
from core.outliers import outliers
from core.config import ExperimentConfig
from core.methods import DEFAULT_SAMPLES, REGISTRY, MethodError, cannot_run_reason, options_for


def configs(quick: bool) -> dict[str, ExperimentConfig]:
    if quick:
        common = dict(dataset="digits", hessian_batch_size=200, epochs=3)
        return {"cnn": ExperimentConfig(architecture="cnn", hidden=(3,), **common),
                "batchnorm_mlp": ExperimentConfig(hidden=(6,), batch_norm=True, **common)}
    common = dict(dataset="mnist", hessian_batch_size=1000, train_subset=8000, epochs=5)
    return {"cnn": ExperimentConfig(architecture="cnn", input_size=14, hidden=(8,), **common),
            "batchnorm_mlp": ExperimentConfig(input_size=28, hidden=(6,), batch_norm=True, **common)}


def method_rows(config: ExperimentConfig) -> dict:
    """Each method's errors and time on ``config`` (computed, not served: the store is fresh)."""
    start = time.perf_counter()
    exact = pipeline.run(config, "exact_hessian")
    rows = {"P": pipeline.size(config).num_params, "label": config.label(), "exact_seconds": exact.seconds,
            "exact_wall_seconds": time.perf_counter() - start,
            "product_path": pipeline.size(config).path, "methods": {}}
    for name, spec in REGISTRY.items():
        if name == "exact_hessian":
            continue
        try:
            result = pipeline.run(config, name, options_for(name, DEFAULT_SAMPLES))
        except MethodError as unfit:
            rows["methods"][name] = {"error": str(unfit)}
            continue
        if not result.ok:
            rows["methods"][name] = {"error": (cannot_run_reason(result.error) or result.error)[:160]}
            continue
        top = None
        if result.top is not None and len(result.top):
            top = float(metrics.top_k_errors(result, exact, 1, by_magnitude=spec.finds_largest_magnitude)[0])
        rows["methods"][name] = {"top1_error": top, "trace_error": metrics.trace_error(result, exact),
                                 "seconds": result.seconds}
    return rows


def outlier_rows(quick: bool) -> list[dict]:
    """The outlier count of the exact spectrum against C, at a fixed width."""
    if quick:
        base, classes = ExperimentConfig(dataset="digits", hidden=(6,), hessian_batch_size=200, epochs=3), (2, 5)
    else:
        base = ExperimentConfig(dataset="mnist", input_size=28, hidden=(6,), hessian_batch_size=1000,
                                train_subset=8000, epochs=5)
        classes = (2, 5, 10)
    out = []
    for c in classes:
        config = base.replace(num_classes=c)
        exact = pipeline.run(config, "exact_hessian")
        found = outliers(exact.spectrum, c)
        out.append({"C": c, "P": pipeline.size(config).num_params, "outliers": found["count"], "gap": found["gap"],
                    "top": [round(v, 4) for v in found["values"]], "next": found.get("next"),
                    "test_accuracy": pipeline.train(config).test_accuracy})
    return out


def shapes_row(quick: bool) -> dict:
    report = {name: method_rows(config) for name, config in configs(quick).items()}
    report["outliers_vs_classes"] = outlier_rows(quick)
    return report


def print_shapes(report: dict) -> None:
    for name in ("cnn", "batchnorm_mlp"):
        block = report[name]
        print(f"\n{name}: {block['label']}, P = {block['P']:,}, products: {block['product_path']}, exact Hessian "
              f"{block['exact_seconds']:.1f} s")
        print(f"  {'method':22s} {'top-1 err':>10s} {'trace err':>10s} {'seconds':>8s}")
        for method, row in block["methods"].items():
            if "error" in row:
                print(f"  {method:22s} cannot run here: {row['error'][:90]}")
                continue
            fmt = lambda v: f"{v:10.1e}" if v is not None else f"{'-':>10s}"
            print(f"  {method:22s} {fmt(row['top1_error'])} {fmt(row['trace_error'])} {row['seconds']:8.2f}")
    print("\noutliers vs C (largest-gap rule):")
    for row in report["outliers_vs_classes"]:
        print(f"  C = {row['C']:2d}  P = {row['P']:,}  outliers = {row['outliers']}  gap = {row['gap']:.2f}x  "
              f"top = {row['top']}  next = {row['next']:.3g}  test accuracy {row['test_accuracy']:.3f}")
