"""Every registered method and family, one line each: every fact about it is on its line.

Adding a method: write ``function(problem, options) -> Estimate`` in a module of this package
and add one :func:`register` line here (its cost model from :mod:`core.budget`, where it runs,
whether it runs on a GPU, its option rules against P, what it yields); the CLI, the app, the
budget, the worker pool and the cache pick it up. ``tests/test_methods_catalogue.py`` fails when
a line leaves a fact unset.
"""

from dataclasses import replace

from .. import paper
from ..budget import BATCHED_PRODUCT_FACTOR as BATCHED
from ..budget import LIBRARY_PRODUCT_FACTOR as LIBRARY
from ..budget import LIBRARY_OVERHEAD_SECONDS as LIBRARY_OVERHEAD
from ..budget import REORTHOGONALISATION_SECONDS_PER_P, DenseCost, ProductCost
from .registry import DEFAULT_SAMPLES, MethodSpec, SizeRule, register, register_family
from .thick_restart import basis_size

BACKPACK = "Dangel, Kunstner & Hennig (2020), BackPACK"
#: what BackPACK's extensions have rules for (read from backpack.extensions.secondorder, v1.7)
NO_BATCHNORM = "Linear, Conv2d, pooling; not BatchNorm"
WITH_BATCHNORM = "Linear, Conv2d, pooling, BatchNorm"
KRONECKER = "Linear, Conv2d (BackPACK's conv convention); not BatchNorm"
PYHESSIAN = "Yao et al. (2020), PyHessian"
AUTOGRAD = "any network (autograd)"

K_BELOW_P = SizeRule("k", lambda p: p - 1, "fewer than P")
SAMPLES_BELOW_P = SizeRule("samples", lambda p: p - 1, "fewer than P (the exact trace is cheaper)")
ITERATIONS_UP_TO_P = SizeRule("iterations", lambda p: p, "at most P (Lanczos cannot run longer)")


def _lanczos_first_answer(opts, p):  # one basis fill and the certificates' products
    k_bottom = opts["k"] if opts.get("bottom") else 0
    return basis_size(opts["k"], k_bottom, p) + opts["k"] + k_bottom


def _samples(opts, p):
    return opts["samples"]


def _batched_vectors(opts, p):  # the probe vectors, their products and one chunk of work
    return 3 * opts["samples"] + min(opts["samples"], 256)


def _lanczos_steps(opts, p):
    return min(opts["iterations"], p) * opts["runs"]


def _lanczos_vectors(opts, p):  # two float64 Lanczos bases of the run
    return 4 * min(opts["iterations"], p)


def _reorthogonalisation(opts, p):
    return REORTHOGONALISATION_SECONDS_PER_P * p * min(opts["iterations"], p) * _lanczos_steps(opts, p)


#: BackPACK's diagonals, KFAC and KFLR: a few extended backward passes (a bound: one pass of C
#: output channels, measured 0.005-0.15 s on digits and MNIST MLPs and CNNs of P = 600-51,000, about
#: 0.1 s of it fixed), diagonal or factors
BACKWARD_PASSES = ProductCost(products=lambda o, p: 6, vectors=lambda o, p: 16, factor=LIBRARY, overhead=0.15)
#: KFRA propagates a dense output-by-output matrix back through every layer: measured 3.6 s on a
#: one-convolution CNN on 14x14 MNIST (P = 4,010, N = 1,000), where the diagonals take 0.05-0.15 s
KFRA_PASSES = replace(BACKWARD_PASSES, products=lambda o, p: 30)
#: EKFAC: the factors' passes, then its eigenvalues refit and a Lanczos run on curvlinops' operator
#: within the deadline; measured 0.17-0.27 s on the same problems
EKFAC_PASSES = ProductCost(products=lambda o, p: 20, vectors=lambda o, p: 16, factor=LIBRARY,
                           overhead=LIBRARY_OVERHEAD)
SLQ_COST = dict(products=_lanczos_steps, vectors=_lanczos_vectors, extra_seconds=_reorthogonalisation,
                overhead=LIBRARY_OVERHEAD)

# families: who makes the methods, and their hues (Okabe-Ito, shaded within a family)
register_family("exact", "exact", ("#000000", "#6e6e6e"))
register_family("pyhessian", "PyHessian", ("#E69F00", "#A66F00", "#F2C75C"))
register_family("backpack-diagonal", "BackPACK diagonals", ("#0072B2", "#56B4E9", "#1B3F8B"))
register_family("backpack-kronecker", "BackPACK Kronecker factors", ("#009E73", "#005C43", "#6FD3B0"))
register_family("curvlinops", "curvlinops", ("#CC79A7", "#8E3B6E"))
register_family("matrix-free", "matrix-free (ours)", ("#D55E00", "#8C3B00", "#F08A4B", "#B8860B", "#7F4F24",
                                                     "#E07B91"))

# exact references
register(MethodSpec(name="exact_hessian", label="Exact Hessian", family="exact", matrix="hessian",
                    function="dense_methods:exact_hessian", defaults={"float64": False}, cost=DenseCost(),
                    runs_in="caller", gpu=True, size_rules=(), yields=("top", "bottom", "trace", "spectrum", "vectors"),
                    reference="Pearlmutter (1994), Fast exact multiplication by the Hessian", handles=AUTOGRAD))
register(MethodSpec(name="exact_ggn", label="Exact GGN", family="exact", matrix="ggn",
                    function="dense_methods:exact_ggn", defaults={"float64": False}, cost=DenseCost(),
                    runs_in="caller", gpu=True, size_rules=(), yields=("top", "bottom", "trace", "spectrum", "vectors"),
                    reference="Schraudolph (2002), Fast curvature matrix-vector products", handles=AUTOGRAD))
# PyHessian, as the paper used it
register(MethodSpec(name="pyhessian_top_k", label="PyHessian power iteration", family="pyhessian", matrix="hessian",
                    function="pyhessian_methods:pyhessian_top_k",
                    defaults={"k": paper.TOP_K, "max_iter": 100, "tol": 1e-3, "seed": 0},
                    cost=ProductCost(products=lambda o, p: o["k"] * o["max_iter"], vectors=lambda o, p: 2 * o["k"],
                                     factor=LIBRARY, minimum=lambda o, p: 3 * o["k"], overhead=LIBRARY_OVERHEAD),
                    runs_in="worker", gpu=False, size_rules=(K_BELOW_P,), yields=("top", "vectors"), stochastic=True,
                    finds_largest_magnitude=True, reference=PYHESSIAN, handles=AUTOGRAD))
register(MethodSpec(name="pyhessian_hutchinson", label="PyHessian Hutchinson", family="pyhessian", matrix="hessian",
                    function="pyhessian_methods:pyhessian_hutchinson",
                    defaults={"samples": paper.HUTCHINSON_SAMPLES, "seed": 0},
                    cost=ProductCost(products=_samples, vectors=lambda o, p: 4, factor=LIBRARY, overhead=LIBRARY_OVERHEAD),
                    runs_in="worker", gpu=False, size_rules=(), yields=("trace",), stochastic=True,
                    reference="Avron & Toledo (2011); " + PYHESSIAN, handles=AUTOGRAD))
register(MethodSpec(name="pyhessian_density", label="PyHessian SLQ density", family="pyhessian", matrix="hessian",
                    function="pyhessian_methods:pyhessian_density", defaults={"iterations": 100, "runs": 1, "seed": 0},
                    cost=ProductCost(**SLQ_COST, factor=LIBRARY), runs_in="worker", gpu=False,
                    size_rules=(ITERATIONS_UP_TO_P,), yields=("trace", "density"), stochastic=True,
                    reference="Ghorbani et al. (2019); " + PYHESSIAN, handles=AUTOGRAD))
# BackPACK's six extensions
register(MethodSpec(name="diag_hessian", label="BackPACK DiagHessian", family="backpack-diagonal", matrix="hessian",
                    function="backpack_methods:diag_hessian", cost=BACKWARD_PASSES, runs_in="worker", gpu=False,
                    size_rules=(), yields=("top", "trace", "spectrum", "vectors"), reference=BACKPACK, handles=NO_BATCHNORM))
register(MethodSpec(name="diag_ggn_exact", label="BackPACK DiagGGNExact", family="backpack-diagonal", matrix="ggn",
                    function="backpack_methods:diag_ggn_exact", cost=BACKWARD_PASSES, runs_in="worker", gpu=False,
                    size_rules=(), yields=("top", "trace", "spectrum", "vectors"), reference=BACKPACK, handles=WITH_BATCHNORM))
register(MethodSpec(name="diag_ggn_mc", label="BackPACK DiagGGNMC", family="backpack-diagonal", matrix="ggn",
                    function="backpack_methods:diag_ggn_mc", defaults={"mc_samples": 1, "seed": 0},
                    cost=BACKWARD_PASSES, runs_in="worker", gpu=False, size_rules=(),
                    yields=("top", "trace", "spectrum", "vectors"), stochastic=True, reference=BACKPACK, handles=WITH_BATCHNORM))
register(MethodSpec(name="kfac", label="BackPACK KFAC", family="backpack-kronecker", matrix="ggn",
                    function="backpack_methods:kfac", defaults={"mc_samples": 1, "seed": 0}, cost=BACKWARD_PASSES,
                    runs_in="worker", gpu=False, size_rules=(), yields=("top", "trace", "spectrum", "vectors"), stochastic=True,
                    reference="Martens & Grosse (2015), KFAC; " + BACKPACK, handles=KRONECKER))
register(MethodSpec(name="kflr", label="BackPACK KFLR", family="backpack-kronecker", matrix="ggn",
                    function="backpack_methods:kflr", cost=BACKWARD_PASSES, runs_in="worker", gpu=False, size_rules=(),
                    yields=("top", "trace", "spectrum", "vectors"), reference="Botev, Ritter & Barber (2017); " + BACKPACK,
                    handles=KRONECKER))
register(MethodSpec(name="kfra", label="BackPACK KFRA", family="backpack-kronecker", matrix="ggn",
                    function="backpack_methods:kfra", cost=KFRA_PASSES, runs_in="worker", gpu=False, size_rules=(),
                    yields=("top", "trace", "spectrum", "vectors"), reference="Botev, Ritter & Barber (2017); " + BACKPACK,
                    handles=KRONECKER))
# curvlinops
register(MethodSpec(name="ekfac", label="EKFAC (curvlinops)", family="curvlinops", matrix="ggn",
                    function="backpack_methods:ekfac", defaults={"seed": 0}, cost=EKFAC_PASSES, runs_in="worker",
                    gpu=False, size_rules=(), yields=("top", "trace", "spectrum", "vectors"),
                    reference="George et al. (2018), EKFAC; Dangel et al., curvlinops",
                    handles="Linear, Conv2d; not BatchNorm"))
# matrix-free estimators over our batched products
#: Lanczos's first answer is its top end alone: the bottom end of a trained network's Hessian, many
#: small eigenvalues of both signs, converges last (the offline CNN: 50 products for the top 10, 128
#: with the bottom 10; 0.57 s against 1.87 s)
LANCZOS_TOP_FIRST = {"bottom": False}
register(MethodSpec(name="lanczos", label="Lanczos top/bottom-k", family="matrix-free", matrix="hessian",
                    function="matrix_free:lanczos",
                    defaults={"k": 10, "tol": 1e-6, "bottom": True, "max_products": 5000, "seed": 0},
                    cost=ProductCost(products=lambda o, p: o["max_products"], minimum=_lanczos_first_answer,
                                     vectors=lambda o, p: 2 * basis_size(o["k"], o["k"] if o["bottom"] else 0, p)),
                    runs_in="worker", gpu=True, size_rules=(K_BELOW_P,), yields=("top", "bottom", "vectors"),
                    first_answer=LANCZOS_TOP_FIRST,
                    reference="Lanczos (1950); Wu & Simon (2000), thick-restart Lanczos", handles=AUTOGRAD))
register(MethodSpec(name="ggn_lanczos", label="Lanczos top-k (GGN)", family="matrix-free", matrix="ggn",
                    function="matrix_free:ggn_lanczos", defaults={"k": 10, "tol": 1e-6, "max_products": 5000, "seed": 0},
                    cost=ProductCost(products=lambda o, p: o["max_products"], minimum=_lanczos_first_answer,
                                     vectors=lambda o, p: 2 * basis_size(o["k"], 0, p)),
                    runs_in="worker", gpu=True, size_rules=(K_BELOW_P,), yields=("top", "vectors"),
                    reference="Lanczos (1950); Schraudolph (2002), GGN products", handles=AUTOGRAD))
register(MethodSpec(name="hutchinson", label="Hutchinson (batched)", family="matrix-free", matrix="hessian",
                    function="matrix_free:hutchinson", defaults={"samples": DEFAULT_SAMPLES, "seed": 0},
                    cost=ProductCost(products=_samples, vectors=_batched_vectors, factor=BATCHED),
                    runs_in="worker", gpu=True, size_rules=(), yields=("trace",), stochastic=True,
                    reference="Hutchinson (1989); Avron & Toledo (2011)", handles=AUTOGRAD))
register(MethodSpec(name="hutchpp", label="Hutch++", family="matrix-free", matrix="hessian",
                    function="matrix_free:hutchpp", defaults={"samples": DEFAULT_SAMPLES, "seed": 0},
                    cost=ProductCost(products=_samples, vectors=_batched_vectors, factor=BATCHED),
                    runs_in="worker", gpu=False, size_rules=(SAMPLES_BELOW_P,), yields=("trace",), stochastic=True,
                    budget_multiple=3, reference="Meyer, Musco, Musco & Woodruff (2021), Hutch++", handles=AUTOGRAD))
register(MethodSpec(name="xtrace", label="XTrace", family="matrix-free", matrix="hessian",
                    function="matrix_free:xtrace", defaults={"samples": DEFAULT_SAMPLES, "seed": 0},
                    cost=ProductCost(products=_samples, vectors=_batched_vectors, factor=BATCHED),
                    runs_in="worker", gpu=False, size_rules=(SAMPLES_BELOW_P,), yields=("trace",), stochastic=True,
                    budget_multiple=2, reference="Epperly, Tropp & Webber (2024), XTrace", handles=AUTOGRAD))
register(MethodSpec(name="slq", label="SLQ density (Lanczos, ours)", family="matrix-free", matrix="hessian",
                    function="slq:slq", defaults={"iterations": 80, "runs": 4, "seed": 0}, cost=ProductCost(**SLQ_COST),
                    runs_in="worker", gpu=True, size_rules=(ITERATIONS_UP_TO_P,), yields=("trace", "density"),
                    stochastic=True, reference="Ubaru, Chen & Saad (2017); Ghorbani, Krishnan & Xiao (2019)",
                    handles=AUTOGRAD))

#: the reference every comparison is made against, and the GGN's (the GGN diagonals' reference)
REFERENCE = "exact_hessian"
GGN_REFERENCE = "exact_ggn"

#: the methods whose certified values stand in for the exact Hessian past its limit, best first: the
#: eigenvalues (each within its residual) and the trace (a standard error first, then the sketches)
STAND_INS = {"eigenvalues": ("lanczos",), "trace": ("hutchinson", "pyhessian_hutchinson", "hutchpp", "xtrace")}

#: whose top eigenvectors a method's directions are compared with, per matrix, best first: the exact
#: matrix where it ran, else the certified Lanczos run on the same matrix's products
DIRECTION_REFERENCES = {"hessian": ("exact_hessian", "lanczos"), "ggn": ("exact_ggn", "ggn_lanczos")}

#: what the app selects unless the user changes it: the paper's methods (PyHessian's top-k
#: and trace, BackPACK's six) plus Lanczos and Hutch++; the rest are one click away
DEFAULT_SELECTION = ("pyhessian_top_k", "pyhessian_hutchinson", "diag_hessian", "diag_ggn_exact", "diag_ggn_mc",
                     "kfac", "kflr", "kfra", "lanczos", "hutchpp")
#: the short selection presentation mode starts with (fewer lines on a projector)
PRESENTATION_SELECTION = ("pyhessian_top_k", "diag_hessian", "kfac", "lanczos", "hutchpp")
