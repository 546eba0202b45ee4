r"""Your own model: any ``torch.nn.Module``, a loss and a batch, through the same methods.

The built-in nets reach :class:`~core.problem.Problem` through a configuration and a training
run; here the caller brings the trained model and the batch:

* :func:`problem` checks the inputs (one clear message each, nothing computed) and builds the
  :class:`~core.problem.Problem` of :math:`L(\theta) = \frac1N \sum_n \ell(f_\theta(x_n), y_n)`
  on a private copy of the model (in eval mode: BatchNorm uses its running statistics), keyed by
  :func:`fingerprint`: the parameters, buffers, batch, loss, the classes' forward code and the
  code version; one curvature product is timed on it, and every cost estimate takes the
  larger of that time and the cost model's rule. The loss is ``"cross_entropy"``, ``"mse"`` (labels as for the built-in nets) or
  a function ``(outputs, targets) -> mean loss``; the GGN's output Hessian is then that
  function's own (by autodiff, :meth:`~core.problem.Problem.ggn_vp_autodiff`), and the methods
  whose library needs a named loss (BackPACK, curvlinops) say so.
* :func:`results` runs registered methods on it: the same registry, options, budget checks
  (each method's cost estimate from the problem's own P, N and multiply-adds), certificates
  and cache as the built-in nets (an entry per fingerprint, method, options and budget: the same
  parameters and batch are served again, a changed weight is recomputed). A method that
  cannot handle a module says so in one line naming it (BackPACK without a rule, tied weights).
* :func:`compare` scores them against the exact Hessian, or past the exact limit against the
  certified Lanczos values (:func:`core.tables.reference`), as the CLI's ``compare`` does.
* :func:`describe` is the model's layer table, P and what each method can do with it.
* :func:`from_builder` makes the problem from ``package.module:function`` (the CLI's ``own
  --model``): only the person who runs the command chooses code to run.

>>> import torch
>>> from torch import nn
>>> torch.manual_seed(0) and None
>>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
>>> own = problem(net, torch.randn(16, 4), torch.randint(0, 2, (16,)))
>>> own.num_params
23
>>> found = results(own, ["exact_hessian", "hutchinson"])
>>> bool(abs(found["exact_hessian"].trace - found["exact_hessian"].spectrum.sum()) < 1e-5)
True
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Callable

from .budget import BudgetExceeded
from .cache import COMPUTE_COUNTS, cached, code_version
from .methods import MethodError, check_budget, check_for_size, estimate, get_spec, options_for, resolve_options
from .results import Result

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from .problem import Problem

#: the most examples one batch may have (the configuration's Hessian batch has the same bound)
MAX_EXAMPLES = 60_000
#: problems built by :func:`problem` in this process, by fingerprint: what a cache miss computes on
_LIVE: dict[str, "Problem"] = {}
_LIVE_KEPT = 8


class OwnModelError(ValueError):
    """A model, batch or loss that cannot make a problem; the message says what to give."""


def _tensor_digest(digest, tensor) -> None:
    import torch

    t = tensor.detach().cpu().contiguous()
    digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def _code_digest(digest, function) -> None:
    code = getattr(function, "__code__", None)
    digest.update(f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}".encode())
    if code is not None:
        digest.update(code.co_code)
        digest.update(repr(code.co_consts).encode())


def fingerprint(model: "nn.Module", x: "torch.Tensor", y: "torch.Tensor", loss: str | Callable) -> str:
    """A 32-hex-digit SHA-256 of everything the problem's numbers depend on: each parameter and
    buffer (name, dtype, shape, bytes), the module tree (``repr``), the forward code of every
    module class in it, the batch, the loss (its name, or its function's code) and
    :func:`core.cache.code_version`."""
    digest = hashlib.sha256(code_version().encode())
    digest.update(repr(model).encode())
    for kind in sorted({type(m) for m in model.modules()}, key=lambda t: f"{t.__module__}.{t.__qualname__}"):
        _code_digest(digest, kind.forward)
    for name, tensor in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]:
        digest.update(name.encode())
        _tensor_digest(digest, tensor)
    _tensor_digest(digest, x)
    _tensor_digest(digest, y)
    if callable(loss):
        _code_digest(digest, loss)
    else:
        digest.update(str(loss).encode())
    return digest.hexdigest()[:32]


def _checked(model, x, y, loss) -> None:
    """Refuse what cannot make a problem, before anything is computed (:class:`OwnModelError`)."""
    import torch
    from torch import nn

    from .losses import LOSSES

    if not isinstance(model, nn.Module):
        raise OwnModelError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    params = list(model.parameters())
    if not params or not any(p.requires_grad for p in params):
        raise OwnModelError("model has no trainable parameters: there is no Hessian to study")
    if not all(p.requires_grad for p in params):
        raise OwnModelError("every parameter must require gradients (the Hessian is over all of them); "
                            "wrap the trainable part in its own module to study it alone")
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise OwnModelError("x must be a floating-point tensor of inputs, one row (or image) per example")
    if not torch.is_tensor(y) or len(y) != len(x):
        raise OwnModelError(f"y must be a tensor with one target per example ({len(x)} inputs given)")
    if not 1 <= len(x) <= MAX_EXAMPLES:
        raise OwnModelError(f"the batch must have from 1 to {MAX_EXAMPLES:,} examples, not {len(x):,}")
    if x.dtype != params[0].dtype or x.device != params[0].device:
        raise OwnModelError(f"x is {x.dtype} on {x.device} but the parameters are {params[0].dtype} on "
                            f"{params[0].device}: give both the same")
    if not (callable(loss) or loss in LOSSES):
        raise OwnModelError(f"loss must be one of {', '.join(LOSSES)} or a function (outputs, targets) -> mean loss, "
                            f"not {loss!r}")
    if not callable(loss) and (y.is_floating_point() or y.dim() != 1):
        raise OwnModelError(f"with loss={loss!r}, y must be class labels (a 1-D integer tensor)")
    if not (torch.isfinite(x).all() and all(torch.isfinite(p).all() for p in params)):
        raise OwnModelError("the inputs or the parameters are not all finite")


def problem(model: "nn.Module", x: "torch.Tensor", y: "torch.Tensor", loss: str | Callable = "cross_entropy") -> "Problem":
    """The :class:`~core.problem.Problem` of ``model`` on the batch ``(x, y)``.

    Args:
        model: any module whose parameters all require gradients; it is copied (later changes to
            it do not reach the problem) and the copy put in eval mode.
        x: the batch's inputs as the model takes them (same dtype and device as the parameters).
        y: class labels for ``cross_entropy`` and ``mse`` (one-hot targets are made from them),
            or whatever a loss function of ``(outputs, targets)`` takes.
        loss: ``"cross_entropy"``, ``"mse"`` or such a function (returning the mean loss).
    Raises:
        OwnModelError: the model, batch or loss cannot make a problem (the message says why);
            also when the model's outputs are not one row of C numbers per example.
    """
    import torch

    from .problem import Problem

    _checked(model, x, y, loss)
    key = fingerprint(model, x, y, loss)
    if key in _LIVE:
        return _LIVE[key]
    own = copy.deepcopy(model)
    try:
        with torch.no_grad():
            outputs = own.eval()(x[:1])
    except Exception as error:  # noqa: BLE001 - the caller's module: say what it raised, in one line
        raise OwnModelError(f"the model does not run on x[:1] ({type(error).__name__}: "
                            f"{str(error).splitlines()[0][:200] if str(error) else ''})") from None
    if not torch.is_tensor(outputs) or outputs.dim() != 2 or outputs.shape[0] != 1:
        shape = tuple(outputs.shape) if torch.is_tensor(outputs) else type(outputs).__name__
        raise OwnModelError(f"the model must return one row of outputs per example, shape (N, C); on x[:1] it "
                            f"returned {shape}")
    if not callable(loss) and not y.max() < outputs.shape[1]:
        raise OwnModelError(f"a label is {int(y.max())} but the model has {outputs.shape[1]} outputs")
    built = Problem(own, x, y, loss=loss, key=key)
    from .budget import Budget, per_product_seconds

    modelled, budget = per_product_seconds(built.size), Budget()
    if 2 * modelled > budget.max_seconds:  # timing two products would itself pass the budget
        raise OwnModelError(f"one curvature product on this model and batch is estimated at {modelled:,.0f} s, so "
                            f"timing two would pass the budget of {budget.max_seconds:g} s: use a smaller batch, or "
                            "raise $HESSIAN_MAX_SECONDS")
    built.measured_product_seconds = _timed_product(built)
    while len(_LIVE) >= _LIVE_KEPT:
        _LIVE.pop(next(iter(_LIVE)))
    _LIVE[key] = built
    return built


def _timed_product(own: "Problem") -> float:
    """Seconds of one Hessian-vector product on ``own``, timed (the second of two: the first also
    builds the gradient graph it reuses): the cost model's rule was measured on the built-in nets
    and may be low for other modules (on a ResNet-18 with 8 CIFAR-sized images it says 0.6 s
    where a product takes 1.1 s), so every estimate on the caller's model takes the larger. The
    kept graph is let go after: it can hold gigabytes."""
    import time

    import torch

    vector = torch.ones(1, own.num_params, dtype=next(own.model.parameters()).dtype, device=own.device)
    own.hvp_batch(vector)
    start = time.perf_counter()
    own.hvp_batch(vector)
    seconds = time.perf_counter() - start
    own._gradient_graphs.clear()
    own.hvp_count = 0
    return seconds


def _live(key: str) -> "Problem":
    if key not in _LIVE:
        raise OwnModelError("this problem is no longer held in this process: build it again with problem(...)")
    return _LIVE[key]


def _precheck(key: str, method: str, options: dict, version: str, budget_seconds: float | None) -> None:
    own = _live(key)
    check_for_size(method, options, own.num_params)
    check_budget(method, options, own.size)


@cached(returns=Result, precheck=_precheck)
def _own_result(key: str, method: str, options: dict, version: str, budget_seconds: float | None) -> Result:
    import numpy as np
    import torch

    from .methods import compute_result

    COMPUTE_COUNTS[f"own:{method}"] += 1
    torch.manual_seed(0)
    np.random.seed(0)
    return compute_result(method, _live(key), options, raise_refusal=True)  # a refusal is never cached


def _args(own: "Problem", method: str, resolved: dict) -> tuple:
    from .budget import Budget

    spends = getattr(get_spec(method).cost, "spends_budget", False)
    return own.key, method, resolved, code_version(), Budget().max_seconds if spends else None


def run(own: "Problem", method: str, options: dict | None = None) -> Result:
    """``method`` on a problem from :func:`problem`, from the cache when this fingerprint has it.

    Raises:
        MethodError: an unknown method or a bad option (also one out of range for this P).
    """
    resolved = resolve_options(method, options)
    check_for_size(method, resolved, own.num_params)
    try:
        return _own_result(*_args(own, method, resolved))
    except BudgetExceeded as refusal:  # re-decided against the budget in force on every call
        return Result.failed(method, get_spec(method).family, str(refusal), resolved)


def is_cached(own: "Problem", method: str, options: dict | None = None) -> bool:
    """Whether :func:`run` would be served from the cache."""
    return _own_result.is_cached(*_args(own, method, resolve_options(method, options)))


def results(own: "Problem", methods, samples: int | None = None, options: dict | None = None) -> dict[str, Result]:
    """Each of ``methods`` on ``own``; every name and option is checked before any work.

    Args:
        own: from :func:`problem`.
        methods: registry names (``python -m core methods`` lists them).
        samples: the Hutchinson sample count for the methods that take one.
        options: ``{method: {option: value}}``, over what ``samples`` sets.
    Returns:
        ``{name: Result}`` in the order given; a method that cannot run says why in its result.
    """
    from .cache import CacheError
    from .pipeline import failed_line

    names = list(dict.fromkeys(methods))
    options = options or {}
    unknown = set(options) - set(names)
    if unknown:
        raise MethodError(f"options given for {sorted(unknown)}, which are not among the methods {names}")
    chosen = {name: {**options_for(name, samples), **options.get(name, {})} for name in names}
    for name in names:  # every name and given option first: a typo refuses the whole call, not the last method
        resolved = resolve_options(name, chosen[name])
        if name in options:
            check_for_size(name, resolved, own.num_params)
    found = {}
    for name in names:
        try:
            found[name] = run(own, name, chosen[name])
        except MethodError as unfit:  # a default that does not fit this P (Lanczos' k >= P): that method says so
            found[name] = Result.failed(name, get_spec(name).family, str(unfit), resolve_options(name, chosen[name]))
        except CacheError:
            raise
        except Exception as error:  # noqa: BLE001 - one method's crash is its line, never the others'
            found[name] = failed_line(name, error, resolve_options(name, chosen[name]))
    return found


def compare(own: "Problem", methods, samples: int | None = None, options: dict | None = None,
            top_k: int = 10) -> dict:
    """``methods`` (with the exact Hessian) scored against the exact Hessian, or, past the exact
    limit, against the certified Lanczos values (named in ``"reference"``).

    Returns:
        ``{"info", "top_k", "reference", "rows", "results"}`` as :func:`core.comparison.compare`.
    """
    from .methods import REFERENCE

    names = list(dict.fromkeys([REFERENCE, *methods]))
    return report(own, results(own, names, samples, options), methods, top_k)


def report(own: "Problem", found: dict[str, Result], methods, top_k: int = 10) -> dict:
    """What :func:`compare` returns, from results already in hand (``found``, from :func:`results`,
    with the exact Hessian among them when it was asked for): one row per method of ``methods``
    against :func:`core.tables.reference` of ``found``."""
    from .methods import REFERENCE
    from .tables import comparison_row, reference

    against, words = reference(found)
    names = list(dict.fromkeys([REFERENCE, *methods]))
    rows = [comparison_row(found[m], against, top_k) for m in names if m in found and (m in methods or m != REFERENCE)]
    return {"info": describe(own), "top_k": top_k, "reference": words, "rows": rows,
            "results": {n: r.to_dict() for n, r in found.items()}}


def describe(own: "Problem", samples: int | None = None) -> dict:
    """The model's layer table, P, N, C, the loss, and each registered method's cost estimate on
    it with whether the budget admits it (a method may still refuse a module when it runs: its
    result says so)."""
    from .methods import REGISTRY

    layers = [{"layer": layer.label, "parameters": sum(b.stop - b.start for b in layer.blocks),
               "blocks": [b.name for b in layer.blocks]} for layer in own.layers]
    methods = []
    for name, spec in REGISTRY.items():
        resolved = resolve_options(name, options_for(name, samples))
        row = {"method": name, "label": spec.label, "seconds": None, "admitted": False, "why": None}
        try:
            check_for_size(name, resolved, own.num_params)
            row["seconds"] = estimate(name, resolved, own.size).seconds
            check_budget(name, resolved, own.size)
            row["admitted"] = True
        except (MethodError, BudgetExceeded) as refusal:
            row["why"] = str(refusal)
        methods.append(row)
    return {"model": type(own.model).__name__, "num_params": own.num_params, "batch_size": own.batch_size,
            "num_classes": own.num_classes, "loss": own.loss_name, "fingerprint": own.key,
            "layers": layers, "methods": methods}


def from_builder(spec: str) -> "Problem":
    """The problem a builder function returns: ``spec`` is ``package.module:function``, imported
    (the current folder first on the path, as ``python -m`` does) and called with no arguments;
    it returns ``(model, x, y)``, ``(model, x, y, loss)`` or a dict with those keys.

    Raises:
        OwnModelError: a malformed spec, a module or function that is not there, a builder that
            raises or returns something else (one line each).
    """
    import importlib
    import os
    import re
    import sys

    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", spec or ""):
        raise OwnModelError(f"--model must be package.module:function (a builder returning model, x, y[, loss]), "
                            f"not {spec!r}")
    module_name, function_name = spec.split(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise OwnModelError(f"cannot import {module_name!r} for --model ({error})") from None
    builder = getattr(module, function_name, None)
    if not callable(builder):
        raise OwnModelError(f"{module_name} has no function {function_name!r} for --model")
    try:
        built = builder()
    except Exception as error:  # noqa: BLE001 - the caller's code: what it raised, in one line
        raise OwnModelError(f"{spec}() raised {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}") from None
    if isinstance(built, dict):
        built = tuple(built.get(k) for k in ("model", "x", "y", "loss") if k in built)
    if not isinstance(built, tuple) or len(built) not in (3, 4):
        raise OwnModelError(f"{spec}() must return (model, x, y) or (model, x, y, loss), not {type(built).__name__}")
    return problem(*built)
