r"""BackPACK curvature extensions (Dangel, Kunstner & Hennig 2020, "BackPACK: Packing more
into backprop"), and EKFAC (George et al. 2018) from curvlinops.

BackPACK's ``extend`` installs hooks that break ``torch.func`` transforms on the same module,
so every call here extends a private deep copy of the model: other methods are unaffected
whatever the order they run in.

Spectra without dense matrices:

* diagonal approximations (DiagHessian, DiagGGNExact, DiagGGNMC): the matrix *is* its
  diagonal, so the eigenvalues are the diagonal entries and the trace is their sum;
* Kronecker approximations (KFAC, KFLR, KFRA): block diagonal over parameters with a weight
  block :math:`G \otimes A` (two factors) and a bias block :math:`G` (one factor). The
  eigenvalues of :math:`G \otimes A` are all products :math:`\lambda_i(G)\lambda_j(A)`
  (Horn & Johnson, Thm. 4.2.12) and :math:`\mathrm{tr}(G \otimes A) = \mathrm{tr}G\,\mathrm{tr}A`,
  so the spectrum is the union over blocks of such products and never needs the product.
  Eigenvectors likewise: :math:`(G \otimes A)(u \otimes w) = \lambda(G)\lambda(A)\, u \otimes w`
  for eigenvectors u of G and w of A, so the top-k eigenvectors are Kronecker products of the
  factors' eigenvectors, each placed at its block's parameters (a weight's row-major
  flattening has its output index outer, as :math:`G \otimes A` does) and zero elsewhere;
  the diagonal approximations' are the coordinate axes of their largest entries.

Convolutions (BackPACK's convention, read from its source and tested in
``tests/test_architectures.py``): the weight block of KFLR is :math:`G \otimes A` with
:math:`G` the exact GGN block of the layer's bias (the backpropagated GGN square root summed
over the T output positions) and :math:`A = \frac1N \sum_n \sum_t u_{n,t} u_{n,t}^\top` over
the unfolded input patches :math:`u_{n,t}`. It is exact for one example and one output
position, as for a linear layer; otherwise it is not KFC's factorisation (Grosse & Martens
2016), which BackPACK's own notes say differs by a factor of T, so the conv blocks of KFAC,
KFLR and KFRA overestimate the curvature on images. BatchNorm: BackPACK's DiagGGNExact and
DiagGGNMC support it (in eval mode as well); DiagHessian, KFAC, KFLR and KFRA do not, and say so.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import torch
from torch import nn

from ..problem import Problem
from ..results import KEPT_VECTORS, LAYER_TOP, Estimate

#: BackPACK extension name -> the attribute it writes on each parameter
EXTENSIONS = {"DiagHessian": "diag_h", "DiagGGNExact": "diag_ggn_exact", "DiagGGNMC": "diag_ggn_mc",
              "KFAC": "kfac", "KFLR": "kflr", "KFRA": "kfra"}


def shared_parameters(model: nn.Module) -> list[str]:
    """The names under which one parameter tensor appears a second time (tied weights), e.g.
    ``["fc4.weight (= fc2.weight)"]``; empty when every parameter belongs to one module."""
    first: dict[int, str] = {}
    found = []
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            found.append(f"{name} (= {first[id(param)]})")
        else:
            first[id(param)] = name
    return found


def extended_copy(problem: Problem) -> tuple[nn.Module, nn.Module]:
    """A BackPACK-extended deep copy of the model and an extended loss module.

    A tree of ``nn.Sequential`` and leaf modules is extended as it is; any other model (a residual
    block, the user's own module) through BackPACK's converter
    (``use_converter=True``: torch.fx traces it and makes its additions, such as a residual
    skip, modules BackPACK has rules for). A model whose parameters are shared between two
    modules is refused: BackPACK writes each module's quantity on the parameter, so the second
    use would overwrite the first instead of adding to it.

    Raises:
        NotImplementedError: the reason in one line (tied parameters, a model the converter
            cannot trace), naming what.
    """
    import backpack

    tied = shared_parameters(problem.model)
    if tied:
        raise NotImplementedError(f"a parameter is shared between modules ({', '.join(tied)}), which BackPACK "
                                  "does not sum over")
    loss_function = backpack.extend(problem.loss_module())
    model = copy.deepcopy(problem.model)
    if all(isinstance(m, nn.Sequential) or not list(m.children()) for m in model.modules()):
        return backpack.extend(model), loss_function
    try:
        converted = backpack.extend(model, use_converter=True)
    except Exception as error:  # noqa: BLE001 - the converter's failures are of every kind (fx, attribute, type)
        first = str(error).splitlines()[0][:160] if str(error) else ""
        raise NotImplementedError(f"BackPACK's converter (torch.fx) cannot translate this model "
                                  f"({type(error).__name__}: {first})") from None
    if [n for n, _ in converted.named_parameters()] != [b.name for b in problem.blocks]:
        raise NotImplementedError("BackPACK's converter renamed or reordered the model's parameters")
    return converted, loss_function


def backward_with(model: nn.Module, loss_function: nn.Module, problem: Problem,
                  extension_name: str | None = None, **kwargs) -> None:
    """One backward pass of the problem's loss, with a BackPACK extension when one is named."""
    import backpack
    from backpack import extensions

    model.zero_grad()
    if extension_name is None:
        loss_function(model(problem.x), problem.targets).backward()
        return
    try:
        with backpack.backpack(getattr(extensions, extension_name)(**kwargs)):
            loss_function(model(problem.x), problem.targets).backward()
    except NotImplementedError as error:
        raise NotImplementedError(unsupported_layers(model, f"BackPACK's {extension_name}", error)) from None


def unsupported_layers(model: nn.Module, who: str, error: Exception) -> str:
    """A one-line reason naming the layer type (and the model's layers of that type) the library
    ``who`` has no rule for, read from its error; its own words when it names none. The method's
    label comes before it ("BackPACK KFLR cannot run here: no rule for ...")."""
    text = str(error)
    if "No accumulation rule" in text:
        return f"{who} has no rule for adding the curvature of two branches (a skip connection)"
    match = re.search(r"<class '[\w.]+\.(\w+)'>", text)
    if not match:
        return f"{who} does not support this model ({text or 'it gave no reason'})"
    kind = match.group(1)
    names = [name or "the model itself" for name, module in model.named_modules() if type(module).__name__ == kind]
    where = f" ({', '.join(names)})" if names else ""
    if kind == "SumModule":  # what BackPACK's converter makes of a skip connection's addition
        where = f" ({', '.join(names)}: the additions of skip connections)" if names else " (skip connections)"
    return f"no rule for {kind} layers{where}"


def backpack_quantities(problem: Problem, extension_name: str, **kwargs) -> list:
    """Run one BackPACK extension on a private, extended copy; per-parameter results in order."""
    model, loss_function = extended_copy(problem)
    backward_with(model, loss_function, problem, extension_name, **kwargs)
    return [getattr(p, EXTENSIONS[extension_name]) for p in model.parameters()]


def kronecker_spectrum(factors_per_param: list[list[torch.Tensor]], vectors: int = 0) -> tuple:
    """Eigenvalues and trace of a block-diagonal Kronecker approximation, with per-block data and
    (``vectors > 0``) the ``(vectors, P)`` unit eigenvectors of its largest eigenvalues, descending."""
    eigenvalues, trace, blocks, bases = [], 0.0, [], []
    for factors in factors_per_param:
        values = np.ones(1)
        block_trace = 1.0
        factor_bases = []
        for factor in factors:
            f = factor.detach().double()
            f = 0.5 * (f + f.T)
            factor_values, factor_vectors = torch.linalg.eigh(f) if vectors else (torch.linalg.eigvalsh(f), None)
            values = np.multiply.outer(values, factor_values.numpy()).ravel()
            factor_bases.append(factor_vectors)
            block_trace *= float(torch.trace(f))
        eigenvalues.append(values)
        bases.append(factor_bases)
        trace += block_trace
        blocks.append({"factor_shapes": [list(f.shape) for f in factors], "trace": block_trace})
    spectrum = np.concatenate(eigenvalues)
    if not vectors:
        return spectrum, trace, blocks, None
    sizes = [int(np.prod([b.shape[0] for b in factor_bases])) for factor_bases in bases]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    top = np.argsort(-spectrum, kind="stable")[:vectors]
    found = np.zeros((len(top), offsets[-1]), dtype=np.float32)
    for row, index in enumerate(top):
        block = int(np.searchsorted(offsets, index, side="right") - 1)
        position = np.unravel_index(index - offsets[block], [b.shape[0] for b in bases[block]])
        vector = np.ones(1)
        for basis, i in zip(bases[block], position):
            vector = np.kron(vector, basis[:, i].numpy())
        found[row, offsets[block] : offsets[block + 1]] = vector
    return spectrum, trace, blocks, found


def axis_vectors(diagonal: np.ndarray, k: int = KEPT_VECTORS) -> np.ndarray:
    """The eigenvectors of a diagonal matrix's ``k`` largest entries: coordinate axes, ``(k, P)``.

    >>> axis_vectors(np.array([1.0, 3.0, 2.0]), 2).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    top = np.argsort(-diagonal, kind="stable")[:k]
    found = np.zeros((len(top), len(diagonal)), dtype=np.float32)
    found[np.arange(len(top)), top] = 1.0
    return found


def layer_spectra(problem: Problem, eigenvalues_by_parameter: list[np.ndarray]) -> list[dict]:
    """Per layer: the :data:`LAYER_TOP` largest eigenvalues and the trace of a block-diagonal
    approximation's layer block, from its eigenvalues parameter by parameter (in order)."""
    found, position = [], 0
    for layer in problem.layers:
        values = np.concatenate(eigenvalues_by_parameter[position : position + len(layer.blocks)])
        position += len(layer.blocks)
        found.append({"layer": layer.label, "top": np.sort(values)[::-1][:LAYER_TOP].tolist(),
                      "trace": float(values.sum())})
    return found


def _diagonal_result(problem: Problem, name: str, **kwargs) -> Estimate:
    per_parameter = [d.detach().double().reshape(-1).numpy() for d in backpack_quantities(problem, name, **kwargs)]
    diagonal = np.concatenate(per_parameter)
    return Estimate(spectrum=diagonal, trace=float(diagonal.sum()), backward_passes=1, diagonal=diagonal,
                    top_vectors=axis_vectors(diagonal), layers=layer_spectra(problem, per_parameter))


def _kronecker_result(problem: Problem, name: str, **kwargs) -> Estimate:
    eigenvalues, trace, blocks, vectors = kronecker_spectrum(backpack_quantities(problem, name, **kwargs),
                                                             vectors=KEPT_VECTORS)
    names = [b.name for b in problem.blocks]
    sizes = np.cumsum([b.stop - b.start for b in problem.blocks])[:-1]
    return Estimate(spectrum=eigenvalues, trace=trace, backward_passes=1,
                    blocks=[{"param": n, **b} for n, b in zip(names, blocks)], top_vectors=vectors,
                    layers=layer_spectra(problem, np.split(eigenvalues, sizes)))



def diag_hessian(problem: Problem, opts: dict) -> Estimate:
    """Exact diagonal of the Hessian, by BackPACK's DiagHessian (spectrum = the diagonal)."""
    return _diagonal_result(problem, "DiagHessian")


def diag_ggn_exact(problem: Problem, opts: dict) -> Estimate:
    """Exact diagonal of the GGN, by BackPACK's DiagGGNExact."""
    return _diagonal_result(problem, "DiagGGNExact")


def diag_ggn_mc(problem: Problem, opts: dict) -> Estimate:
    """Monte-Carlo estimate of the GGN diagonal (sampled labels), BackPACK's DiagGGNMC."""
    torch.manual_seed(opts["seed"])
    return _diagonal_result(problem, "DiagGGNMC", mc_samples=opts["mc_samples"])


def kfac(problem: Problem, opts: dict) -> Estimate:
    """Kronecker-factored GGN with a Monte-Carlo output factor (BackPACK's KFAC)."""
    torch.manual_seed(opts["seed"])
    return _kronecker_result(problem, "KFAC", mc_samples=opts["mc_samples"])


def kflr(problem: Problem, opts: dict) -> Estimate:
    """Kronecker-factored GGN with the exact output Hessian propagated (BackPACK's KFLR)."""
    return _kronecker_result(problem, "KFLR")


def kfra(problem: Problem, opts: dict) -> Estimate:
    """Kronecker-factored GGN with batch-averaged recursive factors (BackPACK's KFRA)."""
    return _kronecker_result(problem, "KFRA")


def ekfac(problem: Problem, opts: dict) -> Estimate:
    """Eigenvalue-corrected KFAC of the exact GGN: KFAC's eigenbasis, eigenvalues refitted.

    curvlinops' ``EKFACLinearOperator`` (type ``"type-2"``: exact GGN factors) exposes, per
    layer, the Kronecker eigenbasis and the corrected eigenvalues; the spectrum is their union.
    Its top eigenvectors come from Lanczos on the operator's products (no backward pass).
    """
    from curvlinops import EKFACLinearOperator

    others = [layer for layer in problem.layers if layer.kind not in EKFAC_LAYERS]
    if others:
        raise NotImplementedError("Kronecker factors for Linear and Conv2d layers only; this model also has "
                                  + ", ".join(layer.label for layer in others))
    tied = shared_parameters(problem.model)
    if tied:
        raise NotImplementedError(f"a parameter is shared between layers ({', '.join(tied)}), which its "
                                  "per-layer Kronecker factors do not sum over")
    torch.manual_seed(opts["seed"])
    model = copy.deepcopy(problem.model)
    params = [p for p in model.parameters() if p.requires_grad]
    operator = EKFACLinearOperator(model, problem.loss_module(), params, [(problem.x, problem.targets)],
                                   fisher_type="type-2", check_deterministic=False)
    eigenvalues = _ekfac_eigenvalues(operator)
    return Estimate(spectrum=eigenvalues, trace=float(eigenvalues.sum()), backward_passes=2,
                    top_vectors=_operator_top_vectors(operator, problem.num_params, params[0].dtype, opts["seed"]))


#: the most products of an approximation's operator its eigenvectors may take
OPERATOR_PRODUCTS = 3000


def _operator_top_vectors(operator, num_params: int, dtype, seed: int) -> np.ndarray | None:
    """The top :data:`KEPT_VECTORS` eigenvectors of an approximation given as a linear operator
    (EKFAC's), by thick-restart Lanczos on its products: they need no backward pass. At most
    :data:`OPERATOR_PRODUCTS` products and within the time budget; where either ends the run
    first, its Ritz vectors as they are."""
    from ..budget import deadline
    from .thick_restart import thick_restart_lanczos

    k = min(KEPT_VECTORS, num_params - 1)
    if k < 1:
        return None
    found = thick_restart_lanczos(lambda rows: (operator @ rows.T.to(dtype).contiguous()).T.double(),
                                  num_params, k, 0, tol=1e-8, max_products=OPERATOR_PRODUCTS, deadline=deadline(),
                                  seed=seed)
    return found.top_vectors


#: the parameterised layers curvlinops' KFAC-type operators have factors for
EKFAC_LAYERS = ("linear", "conv2d")


def _ekfac_eigenvalues(operator) -> np.ndarray:
    operator._maybe_compute_ekfac()  # curvlinops computes lazily on the first product
    corrected = operator._corrected_eigenvalues
    values = []
    for entry in (corrected.values() if isinstance(corrected, dict) else corrected):
        if isinstance(entry, dict):
            values += [v.detach().double().reshape(-1).numpy() for v in entry.values()]
        else:
            values.append(entry.detach().double().reshape(-1).numpy())
    return np.concatenate(values)
