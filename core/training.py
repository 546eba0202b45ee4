"""Seeded, reproducible training with the configured mean loss.

Mini-batch order comes from a ``torch.Generator`` seeded by the config, so the same config
gives bit-identical weights on the same machine and torch build with the same thread count
(``ExperimentConfig.threads``, part of the config and so of every cache key: with another count
the reductions' order, and so the last bits, can differ). Results are plain data
(:class:`~core.results.TrainingResult`: numpy weights and metrics) so joblib can cache them
and the app can read them without torch (see :func:`core.pipeline.train`). The optimizers
are :mod:`core.optimizers` (``torch.optim``'s update rules without its 1-2 s import of
``torch._dynamo``).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from . import optimizers, shapes
from .progress import tick
from .config import ExperimentConfig
from .data import Dataset
from .losses import mean_loss, targets
from .models import build_model, model_inputs, num_params
from .results import TrainingResult


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy") -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on inputs ``x`` (shaped for it) and labels ``y``.

    The model is evaluated in eval mode (BatchNorm with its running statistics) and left in
    the mode it was in."""
    was_training = model.training
    model.eval()
    outputs = model(x)
    model.train(was_training)
    value = mean_loss(loss, outputs, targets(loss, y, outputs.shape[1])).item()
    accuracy = (outputs.argmax(1) == y).float().mean().item()
    return value, accuracy


#: an MLP whose optimizer step is below this many multiply-adds trains on one thread: on 2 cores,
#: MNIST MLPs at 0.8M and 6.5M multiply-adds a step (width 16, 128; batch 64) trained as fast on one
#: thread as on two when idle (1.4-1.9 s, 3.1-3.3 s), and on two threads 4x slower (6-7.4 s against
#: 1.4-1.9 s) while another process kept one core busy, as the app's background job or the browser
#: does (each of torch's threads waits at every small operation for the one descheduled); at 52M
#: (width 1024) two threads were 1.45x faster
ONE_THREAD_BELOW_STEP_MACS = 10_000_000
#: the same for any other network (convolutions, attention), whose layers gain from a second thread
#: sooner. Measured 2026-12-03 on 2 cores, one thread against two, idle: the 8x8-digits CNN (0.44M
#: a step) 0.41-0.46 s against 0.39-0.46 s, and beside a process busy half the time 0.42-0.43 s
#: against 0.46-0.65 s (inside the app, beside the browser, its two-thread training took 2 s); the
#: digits transformer (0.39M) 0.8-1.1 s against 0.95-1.3 s; the digits ResNet (5.2M) 1.45-1.48 s
#: against 1.2-1.28 s; the MNIST CNN (5.4M) 21-24 s against 13.6-13.8 s
OTHER_ONE_THREAD_BELOW_STEP_MACS = 1_000_000


def training_threads(config: ExperimentConfig, model: nn.Module, examples: int, forward_macs: int | None = None) -> int:
    """The torch threads ``model`` trains with on ``examples`` training examples: one when its
    optimizer step (its batch, ``train_batch_size`` or, for full-batch gradient descent, all
    ``examples``, times one example's forward multiply-adds) is below
    :data:`ONE_THREAD_BELOW_STEP_MACS` for an MLP (only linear and BatchNorm layers hold
    parameters; its multiply-adds are its weights) or :data:`OTHER_ONE_THREAD_BELOW_STEP_MACS`
    for any other network (``forward_macs``, one example's, from :func:`core.shapes.forward_macs`;
    unknown: ``config.threads``), else ``config.threads``."""
    batch = examples if config.optimizer == "gd" else min(config.train_batch_size, examples)
    holders = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    if all(isinstance(m, (nn.Linear, nn.BatchNorm1d)) for m in holders):
        macs = batch * sum(m.weight.numel() for m in holders if isinstance(m, nn.Linear))
        return 1 if macs < ONE_THREAD_BELOW_STEP_MACS else config.threads
    if forward_macs is None:
        return config.threads
    return 1 if batch * forward_macs < OTHER_ONE_THREAD_BELOW_STEP_MACS else config.threads


def train_model(config: ExperimentConfig, data: Dataset) -> TrainingResult:
    """Train the configured model on ``data`` with ``config``'s schedule.

    BatchNorm layers train in train mode (batch statistics, running averages updated); every
    evaluation and every snapshot's metrics use eval mode, the mode whose Hessian is studied.

    Args:
        config: architecture, loss and schedule (optimizer, lr, epochs, batch size, seed).
        data: the loaded dataset.
    Every optimizer step ticks :mod:`core.progress` (``training steps``). Small networks train on one
    thread (:func:`training_threads`).
    Returns:
        The weights and final metrics, plus the per-epoch history.
    """
    start = time.perf_counter()
    device = torch.device(config.device)
    model = build_model(config, data.input_dim, data.num_classes).to(device).train()
    before = torch.get_num_threads()
    macs = shapes.forward_macs(config, data.input_dim, data.num_classes)
    torch.set_num_threads(training_threads(config, model, len(data.x_train), macs))
    try:
        return _trained(config, data, model, device, start)
    finally:
        torch.set_num_threads(before)


def _trained(config: ExperimentConfig, data: Dataset, model: nn.Module, device, start: float) -> TrainingResult:
    """:func:`train_model`'s loop, on the threads it chose."""
    if config.optimizer == "adam":
        optimizer = optimizers.Adam(model.parameters(), lr=config.lr)
    elif config.optimizer == "sgd":
        optimizer = optimizers.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    else:  # full-batch gradient descent: theta <- theta - lr * grad L(theta)
        optimizer = optimizers.SGD(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    n = len(data.x_train)
    batch = n if config.optimizer == "gd" else config.train_batch_size
    smallest = 2 if config.batch_norm else 1  # a last batch smaller than this is skipped (steps_per_epoch)
    keep = checkpoint_steps(config.epochs * config.steps_per_epoch(n), config.checkpoints)
    x_all, y_all = model_inputs(config, data.x_train).to(device), data.y_train.to(device)
    t_all = targets(config.loss, y_all, data.num_classes)
    history, checkpoints, step = [], [], 0

    def snapshot():
        loss, accuracy = evaluate(model, x_all, y_all, config.loss)
        checkpoints.append({"step": step, "train_loss": loss, "train_accuracy": accuracy,
                            "state": {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}})

    if 0 in keep:
        snapshot()
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start_idx in range(0, n, batch):
            idx = order[start_idx : start_idx + batch]
            if len(idx) < smallest:  # BatchNorm's batch statistics need two examples
                continue
            optimizer.zero_grad()
            mean_loss(config.loss, model(x_all[idx]), t_all[idx]).backward()
            optimizer.step()
            step += 1
            tick(1, "training steps")
            if step in keep:
                snapshot()
        train_loss, train_acc = evaluate(model, x_all, y_all, config.loss)
        history.append({"epoch": epoch + 1, "step": step, "train_loss": train_loss, "train_accuracy": train_acc})
    train_loss, train_acc = evaluate(model, x_all, y_all, config.loss)
    test_loss, test_acc = evaluate(model, model_inputs(config, data.x_test).to(device), data.y_test.to(device),
                                   config.loss)
    state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return TrainingResult(state, num_params(model), train_loss, train_acc, test_loss, test_acc,
                          time.perf_counter() - start, data.dataset_used, data.notice, history, checkpoints)


def checkpoint_steps(total_steps: int, count: int) -> list[int]:
    """``count`` training steps to snapshot, log-spaced from 0 to ``total_steps`` (distinct).

    >>> checkpoint_steps(100, 5)
    [0, 1, 5, 22, 100]
    >>> checkpoint_steps(3, 10)
    [0, 1, 2, 3]
    """
    import numpy as np

    if count <= 0:
        return []
    if count == 1:
        return [total_steps]
    later = np.unique(np.round(np.geomspace(1, max(total_steps, 1), count - 1)).astype(int))
    return sorted({0, *later.tolist()})
