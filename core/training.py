"""Seeded, reproducible training of the MLP with mean cross-entropy.

Mini-batch order comes from a ``torch.Generator`` seeded by the config, so the same config
gives bit-identical weights on the same machine. Results are plain data (numpy weights and
metrics) so joblib can cache them (see :func:`core.pipeline.train`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .config import ExperimentConfig
from .data import Dataset
from .model import build_mlp


@dataclass
class TrainingResult:
    """Trained weights (name -> array) and the metrics a user asks first."""

    state: dict[str, np.ndarray]
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    seconds: float
    dataset_used: str
    notice: str | None
    history: list[dict] = field(default_factory=list)

    def metrics(self) -> dict:
        return {k: getattr(self, k) for k in ("train_loss", "train_accuracy", "test_loss",
                                              "test_accuracy", "seconds", "dataset_used", "notice")}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``."""
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    return loss, accuracy


def train_model(config: ExperimentConfig, data: Dataset, progress=None) -> TrainingResult:
    """Train an MLP on ``data`` with ``config``'s schedule; ``progress(fraction)`` if given."""
    start = time.perf_counter()
    model = build_mlp(config.layer_sizes(data.dataset_used), config.activation, config.seed)
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    generator = torch.Generator().manual_seed(config.seed)
    n = len(data.x_train)
    history = []
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start_idx in range(0, n, config.train_batch_size):
            idx = order[start_idx : start_idx + config.train_batch_size]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
        train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc})
        if progress is not None:
            progress((epoch + 1) / config.epochs)
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return TrainingResult(state, train_loss, train_acc, test_loss, test_acc,
                          time.perf_counter() - start, data.dataset_used, data.notice, history)
