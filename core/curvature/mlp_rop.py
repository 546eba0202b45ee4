r"""Batched Hessian- and GGN-vector products for ``Linear``/activation MLPs (Pearlmutter's R-op).

For many vectors at once this is the fastest way we measured to apply the Hessian of an MLP
(see the README's benchmark): the batch of ``c`` vectors is folded into the columns of a
few wide matrix products, where ``torch.func``'s ``vmap(jvp(grad))`` runs ``c`` narrow ones.
It is written by hand because no library offers it, and is tested against ``torch.func``
and finite differences (``tests/test_problem.py``, ``tests/test_architectures.py``).

Notation (one sample per row, ``N`` rows, mean loss): :math:`a_0 = X`,
:math:`z_l = a_{l-1} W_l^\top + b_l`, :math:`a_l = \sigma(z_l)`, logits :math:`f = z_L`,
:math:`p = \mathrm{softmax}(f)`, :math:`\delta_L = (p - y)/N`,
:math:`\delta_{l-1} = (\delta_l W_l) \odot \sigma'(z_{l-1})`, gradient
:math:`\nabla_{W_l} = \delta_l^\top a_{l-1}`, :math:`\nabla_{b_l} = \sum_n \delta_l`.

Applying the directional derivative :math:`R\{\cdot\}` along :math:`v = (dW_l, db_l)`
(Pearlmutter 1994, "Fast exact multiplication by the Hessian"):

* forward: :math:`dz_l = da_{l-1} W_l^\top + a_{l-1} dW_l^\top + db_l`,
  :math:`da_l = \sigma'(z_l) \odot dz_l`;
* loss: :math:`d\delta_L = (p \odot df - p\,(p^\top df))/N` (softmax cross-entropy's
  output Hessian :math:`H_L = \mathrm{diag}(p) - pp^\top` applied to :math:`df`);
* backward: :math:`(Hv)_{W_l} = d\delta_l^\top a_{l-1} + [\delta_l^\top da_{l-1}]`,
  :math:`(Hv)_{b_l} = \sum_n d\delta_l`,
  :math:`d\delta_{l-1} = (d\delta_l W_l + [\delta_l dW_l]) \odot \sigma'(z_{l-1})
  + [(\delta_l W_l) \odot \sigma''(z_{l-1}) \odot dz_{l-1}]`.

Dropping the bracketed terms (those carrying the loss gradient :math:`\delta`) leaves
:math:`J^\top H_L J v / N`, the generalized Gauss-Newton product (Schraudolph 2002). For
piecewise-linear activations :math:`\sigma'' = 0`, so the only difference between H and
the GGN is the :math:`\delta_l^\top da_{l-1}` and :math:`\delta_l dW_l` terms, which couple
layer ``l`` with layer ``l-1``: within-layer blocks agree, cross-layer blocks do not.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def activation_derivatives(module: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and second derivative of an elementwise activation module at ``z``."""
    if isinstance(module, nn.ReLU):
        return (z > 0).to(z.dtype), torch.zeros_like(z)
    if isinstance(module, nn.LeakyReLU):
        slope = torch.full_like(z, module.negative_slope)
        return torch.where(z > 0, torch.ones_like(z), slope), torch.zeros_like(z)
    if isinstance(module, nn.Tanh):
        t = torch.tanh(z)
        d1 = 1 - t * t
        return d1, -2 * t * d1
    if isinstance(module, nn.Sigmoid):
        s = torch.sigmoid(z)
        d1 = s * (1 - s)
        return d1, d1 * (1 - 2 * s)
    if isinstance(module, nn.Softplus) and module.beta == 1:
        s = torch.sigmoid(z)
        linear = z > module.threshold  # PyTorch's softplus returns z itself there
        return torch.where(linear, torch.ones_like(z), s), torch.where(linear, torch.zeros_like(z), s * (1 - s))
    if isinstance(module, nn.GELU) and module.approximate == "none":
        pdf = torch.exp(-0.5 * z * z) * _INV_SQRT_2PI
        cdf = 0.5 * (1 + torch.erf(z * _SQRT_HALF))
        return cdf + z * pdf, pdf * (2 - z * z)
    raise NotImplementedError(f"no derivative rule for {module}")


def supports(model: nn.Module) -> bool:
    """True if ``model`` is ``Sequential(Linear, act, ..., Linear)`` with known activations."""
    if not isinstance(model, nn.Sequential) or len(model) % 2 != 1:
        return False
    for i, layer in enumerate(model):
        if i % 2 == 0:
            if not isinstance(layer, nn.Linear) or layer.bias is None:
                return False
        else:
            try:
                activation_derivatives(layer, torch.zeros(1))
            except NotImplementedError:
                return False
    return True


#: the losses whose output gradient and Hessian are written out below
LOSSES = ("cross_entropy", "mse")


def curvature_matmat(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor,
                     vectors: torch.Tensor, ggn: bool = False, loss: str = "cross_entropy") -> torch.Tensor:
    r"""``H @ V`` (or ``G @ V`` with ``ggn=True``) for ``vectors`` of shape ``(c, P)``.

    The curvature is that of the mean ``loss`` over ``(x, y)`` with ``y`` the class labels
    (``"mse"``: squared error on one-hot targets averaged over the N x C entries, so
    :math:`\delta_L = 2(f - e_y)/(NC)` and :math:`d\delta_L = 2\,df/(NC)`); parameters are
    flattened in ``model.parameters()`` order (weight then bias, layer by layer). Returns ``(c, P)``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}: the R-operator knows {', '.join(LOSSES)}")
    linears = [model[i] for i in range(0, len(model), 2)]
    activations = [model[i] for i in range(1, len(model), 2)]
    n, c = x.shape[0], vectors.shape[0]
    dtype = vectors.dtype
    x = x.to(dtype)

    # Split the flat vectors into per-layer weight and bias directions.
    dW, db, offset = [], [], 0
    for lin in linears:
        out_f, in_f = lin.weight.shape
        dW.append(vectors[:, offset : offset + out_f * in_f].view(c, out_f, in_f))
        offset += out_f * in_f
        db.append(vectors[:, offset : offset + out_f])
        offset += out_f

    with torch.no_grad():
        W = [lin.weight.detach().to(dtype) for lin in linears]
        b = [lin.bias.detach().to(dtype) for lin in linears]
        # Forward pass, keeping inputs and activation derivatives.
        a, d1, d2, z = [x], [], [], []
        for l, act in enumerate(activations):
            zl = a[-1] @ W[l].T + b[l]
            s1, s2 = activation_derivatives(act, zl)
            z.append(zl), d1.append(s1), d2.append(s2)
            a.append(act(zl))
        logits = a[-1] @ W[-1].T + b[-1]
        one_hot = nn.functional.one_hot(y, logits.shape[1]).to(dtype)
        delta = [None] * len(linears)
        if loss == "mse":
            scale = 2.0 / (n * logits.shape[1])
            delta[-1] = scale * (logits - one_hot)
        else:
            p = torch.softmax(logits, dim=1)
            delta[-1] = (p - one_hot) / n
        for l in range(len(linears) - 1, 0, -1):
            delta[l - 1] = (delta[l] @ W[l]) * d1[l - 1]

        # Tangent forward pass: dz_l = da_{l-1} W_l^T + a_{l-1} dW_l^T + db_l, shape (c, n, h).
        da = [None]  # da_0 = 0
        dz = []
        for l in range(len(linears)):
            out_f, in_f = W[l].shape
            from_weights = (a[l] @ dW[l].reshape(c * out_f, in_f).T).view(n, c, out_f).transpose(0, 1)
            dzl = from_weights + db[l][:, None, :]
            if da[l] is not None:
                dzl = dzl + da[l] @ W[l].T
            dz.append(dzl)
            if l < len(activations):
                da.append(d1[l] * dzl)
        df = dz[-1]
        if loss == "mse":
            ddelta = scale * df
        else:
            ddelta = (p * df - p * (p * df).sum(-1, keepdim=True)) / n

        # Tangent backward pass.
        out_W, out_b = [None] * len(linears), [None] * len(linears)
        for l in range(len(linears) - 1, -1, -1):
            out_f, in_f = W[l].shape
            gW = (ddelta.transpose(1, 2).reshape(c * out_f, n) @ a[l]).view(c, out_f, in_f)
            if not ggn and da[l] is not None:
                gW = gW + delta[l].T @ da[l]
            out_W[l], out_b[l] = gW, ddelta.sum(1)
            if l > 0:
                back = ddelta @ W[l]
                if not ggn:
                    back = back + delta[l] @ dW[l]
                new = back * d1[l - 1]
                if not ggn:
                    new = new + (delta[l] @ W[l]) * d2[l - 1] * dz[l - 1]
                ddelta = new
        pieces = []
        for gW, gb in zip(out_W, out_b):
            pieces += [gW.reshape(c, -1), gb]
        return torch.cat(pieces, dim=1)


def off_unit_parameters(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    r"""A boolean mask over the flat parameters of a :func:`supports` MLP: the incoming weights,
    bias and outgoing weights of every hidden unit that is off on the whole batch ``x``
    (:math:`a = \sigma(z) = 0`, :math:`\sigma'(z) = \sigma''(z) = 0` on every example: a dead
    ReLU).

    Such a unit's rows of the Hessian and of the GGN, as this module computes them, are exactly
    zero: its :math:`da` and its part of :math:`\delta` vanish (the products with
    :math:`\sigma'`, :math:`\sigma''`), and its outgoing weights multiply :math:`a = 0`. So the
    dense build may skip their products (:func:`core.curvature.dense.dense_matrix` and
    ``reduced_matrix`` check the built rows' entries at them are zero, the same rows by symmetry).

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2)); _ = model[0].bias.copy_(torch.tensor([0.0, -9.0]))
    >>> off_unit_parameters(model, torch.rand(5, 2)).nonzero().flatten().tolist()  # unit 1: W1[1, :], b1[1], W2[0, 1]
    [2, 3, 5, 7]
    """
    linears = [model[i] for i in range(0, len(model), 2)]
    activations = [model[i] for i in range(1, len(model), 2)]
    offsets, offset = [], 0
    for lin in linears:
        offsets.append(offset)
        offset += lin.weight.numel() + lin.bias.numel()
    off = torch.zeros(offset, dtype=torch.bool)
    with torch.no_grad():
        a = x.to(linears[0].weight.dtype)
        for l, act in enumerate(activations):
            z = a @ linears[l].weight.T + linears[l].bias
            d1, d2 = activation_derivatives(act, z)
            a = act(z)
            units = torch.nonzero(((a == 0) & (d1 == 0) & (d2 == 0)).all(dim=0)).flatten().cpu()
            if not len(units):
                continue
            out_f, in_f = linears[l].weight.shape
            start = offsets[l]
            incoming = start + units[:, None] * in_f + torch.arange(in_f)[None, :]
            off[incoming.flatten()] = True
            off[start + out_f * in_f + units] = True
            following = linears[l + 1].weight.shape[0]
            off[(offsets[l + 1] + torch.arange(following)[:, None] * out_f + units[None, :]).flatten()] = True
    return off
