"""The README's benchmark table: written from a report between two marker comments."""

from __future__ import annotations

from pathlib import Path

from core.results import KEPT_VECTORS as KEPT

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(table: str, readme: Path = README) -> None:
    """Replace the text between the markers with ``table``."""
    text = readme.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + table + "\n" + text[end:])


def _span(s: dict, fmt: str = "{:.2f}", unit: str = "") -> str:
    return f"{fmt.format(s['median'])}{unit} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def markdown_table(report: dict) -> str:
    """The README's benchmark table (medians, min-max in brackets) with the targets beside them."""
    rows = []
    main_width = report["main_width"]
    for width, e in report["exact"].items():
        tag = f"width {width}, P = {e['P']:,}"
        s = e["seconds"]
        target = width == main_width
        if "speedup_vs_paper" in e:
            rows.append((f"exact spectrum vs paper's way, {tag}", _span(e["speedup_vs_paper"], unit="x") + " faster",
                         ">= 2.5x" if target else ""))
            rows.append((f"exact spectrum vs autograd.functional.hessian, {tag}",
                         _span(e["speedup_vs_functional"], unit="x") + " faster", ""))
            rows.append((f"exact top-10 max rel. error vs paper's way, {tag}",
                         f"{e['top10_max_rel_error_vs_paper']:.1e}", "<= 1e-5" if target else ""))
        rows.append((f"exact spectrum / float32 eigvalsh of the full matrix, {tag} "
                     f"({e['exact_zero_eigenvalues_removed']:,} exact zeros removed first)",
                     _span(e["ratio_to_floor"], unit="x"),
                     "<= 1.5x" if target else ""))
        times = ", ".join(f"{k} {v['median']:.1f}" for k, v in s.items())
        rows.append((f"exact spectrum seconds (median), {tag}", times, ""))
    k = report["top_k"]
    rows += [
        ("top-10 Lanczos: max rel. error / HVPs", f"{k['lanczos']['max_rel_error']:.1e} / {k['lanczos']['matvecs']}", "<= 1e-6"),
        ("top-10 time, Lanczos / PyHessian default", _span(k["time_ratio_lanczos_to_pyhessian_default"], unit="x"), "<= 1x"),
        ("top-10 PyHessian default: max rel. error / HVPs",
         f"{k['pyhessian_default']['max_rel_error']:.1e} / {k['pyhessian_default']['matvecs']}", ""),
        ("top-10 PyHessian tol 1e-6: max rel. error / HVPs",
         f"{k['pyhessian_tol1e-6']['max_rel_error']:.1e} / {k['pyhessian_tol1e-6']['matvecs']}", ""),
    ]
    lz = report["lanczos_vs_exact"]
    rows += [
        ("Lanczos top+bottom 10 (app defaults) / exact pipeline, time", _span(lz["time_ratio_lanczos_to_exact"], unit="x"),
         "<= 0.5x"),
        ("Lanczos top+bottom 10: products, top-10 rel. error, bottom-10 error / max abs (vs float64 dense)",
         f"{lz['lanczos']['matvecs']}, {lz['lanczos']['top10_max_rel_error']:.1e}, "
         f"{lz['lanczos']['bottom10_max_error_over_max_abs']:.1e}", "<= 1e-6, <= 1e-6"),
        ("exact pipeline (float32) on the same: top-10 rel. error, bottom-10 error / max abs",
         f"{lz['exact']['top10_max_rel_error']:.1e}, {lz['exact']['bottom10_max_error_over_max_abs']:.1e}", ""),
    ]
    t = report["trace"]
    rows += [
        ("Hutchinson throughput, ours / PyHessian trace()", _span(t["throughput_ratio"], unit="x"), ">= 2x"),
        (f"trace rel. RMSE at {t['equal_matvecs']} HVPs over {t['rmse_over_repeats']} repeats: "
         "Hutchinson / Hutch++ / XTrace",
         " / ".join(f"{t['relative_rmse'][m]:.2%}" for m in ("hutchinson", "hutchpp", "xtrace")), ""),
    ]
    rows.append(("BackPACK time / plain backward: " + ", ".join(report["backpack"]),
                 ", ".join(f"{v['median']:.1f}x" for v in report["backpack"].values()), ""))
    c = report["cache_app"]
    rows.append(("serve a cached exact result [s]", _span(c["cached_result_s"], fmt="{:.3f}"), ""))
    rows.append((f"warm-cache page render (AppTest) [s], {c['config']}",
                 ", ".join(f"{name} {v['median']:.2f}" for name, v in c["warm_page_render_s"].items()),
                 "<= 1 s each"))
    rows.append((f"cold default analysis [s], {c['config']}", f"{c['cold_default_analysis_s']:.1f}", "<= 60 s"))
    sc = report["scaling"]
    rows.append(("exact pipeline vs P: seconds / peak GiB",
                 ", ".join(f"P={pt['P']:,}: {pt['seconds']:.1f} s / {pt['peak_rss_gib']:.2f}" for pt in sc["points"]), ""))
    rows.append(("fitted time exponent (t ~ P^a)", f"{sc['time_exponent']:.2f}" if sc["time_exponent"] else "-", ""))
    rows.append(("largest P admitted by the default budget (12 GiB, 600 s)", f"{sc['largest_p_default_budget']:,}", ""))
    sw = report.get("sweep")
    if sw:
        rows.append((f"sweep of {sw['cells']} cells (+ exact references, {sw['cells_with_references']} in all), wall time "
                     "[s]: " + " / ".join(sw["seconds"]),
                     " / ".join(f"{v:.1f}" for v in sw["seconds"].values()) + " (ratio to serial "
                     + " / ".join(f"{v:.2f}" for v in sw["ratio_to_serial"].values()) + ")", ""))
        rows.append(("sweep: overhead per cached cell [s]", f"{sw['cached_cell_s']:.3f}", ""))
    par = report.get("parallel")
    if par:
        rows.append((f"the app's {par['methods']} default methods, cold: serial / 2 worker processes [s] "
                     "(workers' start included)", f"{par['serial']:.1f} / {par['2 workers']:.1f} "
                     f"(ratio {par['ratio']:.2f})", ""))
    scale = report.get("scale")
    if scale:
        rows += scale_rows(scale)
    honesty = report.get("honesty")
    if honesty:
        rows.append((f"estimate / actual time per method, min-median-max over {honesty['configurations']} "
                     "configurations (an upper bound: >= 1 is honest)",
                     "; ".join(f"{m} {v['min']:.2g}-{v['median']:.2g}-{v['max']:.2g}" for m, v in
                               honesty["by_method"].items()), "every min >= 1"))
    directions = report.get("directions")
    if directions:
        d = directions
        rows.append((f"eigenvectors beside values, P = {d['P']:,} ({d['config']}): exact eigvalsh / with top and "
                     f"bottom {KEPT} vectors [s]; KFLR values / with vectors [s]; EKFAC with vectors [s]",
                     f"{d['exact']['values_s']:.2f} / {d['exact']['values_and_vectors_s']:.2f} (x{d['exact']['ratio']:.2f}); "
                     f"{d['kflr']['values_s']:.4f} / {d['kflr']['values_and_vectors_s']:.4f}; "
                     f"{d['ekfac']['with_vectors_s']:.2f}; vectors {d['vectors_mib']:.2f} MiB", "exact <= x1.5"))
        land = d["landscape"]
        rows.append((f"Loss landscape page cold ({land['passes']} forward passes): actual / estimate [s]",
                     f"{land['actual_s']:.1f} / {land['estimate_s']:.1f}", "estimate >= actual"))
    what_if = report.get("what_if")
    if what_if:
        rows.append(("what-if: one control changed to a cold value, Top eigenvalues in Chromium: first answer / "
                     "full picture [s]: " + "; ".join(what_if),
                     "; ".join(f"{v['first_answer_s']:.1f} / {v['full_picture_s']:.1f}" for v in what_if.values()),
                     "first <= 5 s, full <= 30 s"))
    stability = report.get("edge_of_stability")
    if stability:
        rows.append(("what-if: the edge-of-stability setup clicked on a cold cache, Training page in Chromium: first "
                     "chart / whole page [s]: " + "; ".join(stability),
                     "; ".join(f"{v['first_chart_s']:.1f} / {v['whole_page_s']:.1f}" for v in stability.values()),
                     "first chart <= 30 s"))
    own = report.get("own_model")
    if own and "resnet18" in own:
        r = own["resnet18"]
        rows.append((f"ResNet-18 (P = {r['P']:,}, N = {r['N']}, budget {r['budget_s']:.0f} s), the README's example: "
                     "time / estimate [s] per method",
                     "; ".join(f"{m['method']} " + (f"{m['wall_s']:.1f} / {m['estimate_s']:.3g}" if m["ok"] else "refused")
                               for m in r["methods"]), "matrix-free answer, dense refused"))
    architectures = report.get("architectures")
    if architectures:
        for name in ("resnet", "resnet, no skips", "transformer"):
            a = architectures[name]
            ran = [m for m in a["methods"] if not m["error"]]
            rows.append((f"{a['label']} (P = {a['P']:,}): methods run / refused; worst top-1 rel. error of "
                         "Lanczos, PyHessian; seconds in all",
                         f"{len(ran)} / {len(a['methods']) - len(ran)}; "
                         + ", ".join(f"{m['method']} {m['top1_rel_error']:.1e}" for m in ran
                                     if m["method"] in ("lanczos", "pyhessian_top_k") and m["top1_rel_error"] is not None)
                         + f"; {a['wall_s']:.0f} s", ""))
        for verdict in architectures["claims"].values():
            rows.append((verdict["claim"], ("held: " if verdict["held"] else "not held: ") + verdict["evidence"], ""))
    fp = report.get("first_paint", {})
    if fp:
        rows.append(("import time of a fresh interpreter [s]: " + ", ".join(fp["imports_s"]),
                     ", ".join(f"{v:.2f}" for v in fp["imports_s"].values()), ""))
        for label, target_cold in (("offline default (digits)", "<= 5 s"), ("MNIST default (t10k split)", "<= 20 s")):
            if label in fp:
                rows.append((f"`streamlit run app/Home.py` to a drawn Home in Chromium, {label}: cold / warm [s]",
                             f"{fp[label]['cold_s']:.1f} / {fp[label]['warm_s']['median']:.1f}",
                             f"cold {target_cold}, warm <= 3 s"))
        if "browser" in fp:
            rows.append(("first paint in Chromium", fp["browser"], ""))
    cpus = f"{report['cpu_count']} CPUs, " if "cpu_count" in report else ""
    head = (f"{report['date']}, {report['machine']}, {cpus}{report['threads']} torch threads, torch {report['torch']}, "
            f"{report['config']} (dataset used: {report['dataset_used']}), {report['repeats']} repeats on the "
            "main row; median (min-max)\n\n")
    return head + "\n".join(["| row | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def scale_rows(scale: dict) -> list[tuple[str, str, str]]:
    """Row 11's lines: past the exact limit, one block per size (see :mod:`benchmarks.scale`)."""
    rows = []
    for name, d in scale.items():
        if name in ("app_default_cold", "gpu"):
            continue
        tag = f"P = {d['P']:,} ({d['label']})"
        runs = {"ours (Lanczos)": d["lanczos"], "PyHessian default": d["pyhessian_default"],
                "PyHessian tol 1e-6": d["pyhessian_tol1e-6"], "curvlinops + eigsh": d["curvlinops_eigsh"]}
        cells = ", ".join(f"{k} {v['seconds']:.1f} s / {v['products']} / {v['max_residual']:.1e}"
                          if v.get("max_residual") is not None else f"{k}: {str(v.get('error'))[:40]}"
                          for k, v in runs.items())
        rows.append((f"top-10 at {tag}: seconds / products / largest residual ‖Hv − θv‖", cells,
                     "ours fastest at equal accuracy"))
        rows.append((f"top-10 at {tag}: our largest residual / λ_max", f"{d['lanczos']['residual_over_top']:.1e}",
                     "<= 1e-4 at P ~ 1e6, within 600 s"))
        pg = d["product_vs_gradient"]
        rows.append((f"one Hessian-vector product / one gradient, {tag}", f"{pg['ratio']:.2f}x "
                     f"({pg['product_s']['median'] * 1e3:.1f} / {pg['gradient_s']['median'] * 1e3:.1f} ms)", "<= 3x"))
    gpu = scale.get("gpu", {})
    rows.append(("our Lanczos top-10 on the GPU, the largest size", "no GPU here" if gpu.get("device") != "cuda" else
                 f"{gpu['seconds']:.1f} s / {gpu['products']} / {gpu['max_residual']:.1e}", ""))
    cold = scale.get("app_default_cold")
    if cold:
        first = next(k for k in scale if k not in ("app_default_cold", "gpu"))
        rows.append((f"the app's default selection cold, end to end (training included), P = {scale[first]['P']:,} [s]",
                     f"{cold['seconds']:.1f}", "<= 60 s"))
    return rows
