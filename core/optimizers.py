"""Adam and SGD (with or without heavy-ball momentum), written out for a cold start.

Why not ``torch.optim``: every ``torch.optim`` optimizer's constructor and ``step`` are wrapped
by ``torch._disable_dynamo``, which imports ``torch._dynamo`` on first call: 1.2-2 s on this
machine, more than the whole training of the app's default network (measured 2026-11-28,
torch 2.14.1). The app's first paint waits for that training, so the update rules are written
here instead, on the same tensors and in the same order of operations as PyTorch's
single-tensor (non-``foreach``) implementations, so the weights are those ``torch.optim``
gives (``tests/test_training.py`` compares them step by step).

Update rules (no weight decay), for a gradient :math:`g_t` at step :math:`t = 1, 2, \\dots`:

* Adam (Kingma & Ba, 2015, Algorithm 1; PyTorch's ``torch.optim.Adam`` documentation):
  :math:`m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t`, :math:`v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2`,
  :math:`\\theta_t = \\theta_{t-1} - \\frac{\\eta}{1-\\beta_1^t}\\, m_t \\,/\\,
  (\\sqrt{v_t}/\\sqrt{1-\\beta_2^t} + \\epsilon)`.
* SGD with momentum :math:`\\mu` (PyTorch's convention, no dampening): :math:`b_1 = g_1`,
  :math:`b_t = \\mu b_{t-1} + g_t`, :math:`\\theta_t = \\theta_{t-1} - \\eta b_t`; with
  :math:`\\mu = 0` plain gradient descent :math:`\\theta_t = \\theta_{t-1} - \\eta g_t`.
"""

from __future__ import annotations

import torch


class _Optimizer:
    """The part of ``torch.optim.Optimizer``'s interface training uses: ``zero_grad`` and ``step``."""

    def __init__(self, params, lr: float):
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        self.params = [p for p in params if p.requires_grad]
        self.lr = float(lr)

    def zero_grad(self) -> None:
        """Forget the gradients (``set_to_none``, as ``torch.optim`` does by default)."""
        for p in self.params:
            p.grad = None


class Adam(_Optimizer):
    """Adam with PyTorch's defaults (betas 0.9 and 0.999, eps 1e-8, no weight decay)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        bias_correction1 = 1 - self.beta1 ** self.steps
        bias_correction2_sqrt = (1 - self.beta2 ** self.steps) ** 0.5
        step_size = self.lr / bias_correction1
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)


class SGD(_Optimizer):
    """Stochastic gradient descent, with heavy-ball momentum if ``momentum`` > 0."""

    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.momentum != 0:
                if self.buffers[i] is None:
                    self.buffers[i] = torch.clone(g).detach()
                else:
                    self.buffers[i].mul_(self.momentum).add_(g)
                g = self.buffers[i]
            p.add_(g, alpha=-self.lr)
