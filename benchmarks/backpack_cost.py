"""Row 4: each BackPACK extension's backward pass as a multiple of a plain backward pass."""

from __future__ import annotations

from core.methods.backpack_methods import EXTENSIONS, backward_with, extended_copy

from .common import stats, timed


def backpack_row(problem, repeats: int) -> dict:
    model, loss_function = extended_copy(problem)
    ratios = {name: [] for name in EXTENSIONS}
    plain = lambda: backward_with(model, loss_function, problem)
    plain()  # warm-up
    for _ in range(max(repeats, 3)):
        for name in EXTENSIONS:
            base = min(timed(plain)[0] for _ in range(3))
            ratios[name].append(timed(lambda: backward_with(model, loss_function, problem, name))[0] / base)
    return {name: stats(v) for name, v in ratios.items()}
