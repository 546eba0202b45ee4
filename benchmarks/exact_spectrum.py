"""Row 1: the exact full spectrum: ours vs the paper's way vs autograd.functional.hessian.

Ours: batched R-op products, exact zero eigenvalues of inputs constant over the batch removed
before the solve (:mod:`core.curvature.reduction`), float32 eigvalsh. The paper's way: one
``autograd.grad`` per gradient entry + float64 eigvalsh. Also ours against the bare float32
eigvalsh of the full P x P matrix (the floor of any method that solves it whole), and the
top-10 agreement with the paper's way.
"""

from __future__ import annotations

import torch

from core.curvature import dense

from .common import stats, timed, top10_error


def functional_hessian(problem) -> torch.Tensor:
    return torch.autograd.functional.hessian(problem.loss_at, problem.flat_params())


def exact_row(problem, repeats: int, competitors: bool = True) -> dict:
    times = {"ours": [], "paper": [], "functional": [], "floor": []}
    errors = []
    for _ in range(repeats):
        t, found = timed(lambda: dense.spectrum(problem))
        ours = found["eigenvalues"]
        times["ours"].append(t)
        hessian = dense.dense_matrix(problem)
        times["floor"].append(timed(lambda: torch.linalg.eigvalsh(hessian))[0])
        del hessian
        if competitors:
            t, paper = timed(lambda: torch.linalg.eigvalsh(dense.hessian_rowwise(problem).double()).numpy())
            times["paper"].append(t)
            times["functional"].append(timed(lambda: torch.linalg.eigvalsh(functional_hessian(problem).double()))[0])
            errors.append(top10_error(ours, paper))
    row = {"P": problem.num_params, "N": problem.batch_size, "repeats": repeats,
           "exact_zero_eigenvalues_removed": found["null_dimension"],
           "seconds": {k: stats(v) for k, v in times.items() if v},
           "ratio_to_floor": stats(o / f for o, f in zip(times["ours"], times["floor"]))}
    if competitors:
        row["speedup_vs_paper"] = stats(p / o for p, o in zip(times["paper"], times["ours"]))
        row["speedup_vs_functional"] = stats(p / o for p, o in zip(times["functional"], times["ours"]))
        row["top10_max_rel_error_vs_paper"] = max(errors)
    return row
