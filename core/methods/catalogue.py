"""Every registered method, one line each: who it is, its options, where its code lives.

Adding a method: write ``function(problem, options) -> Estimate`` in a module of this
package and add one :func:`register` line here; the CLI, the app and the cache pick it up.
"""

from .registry import DEFAULT_SAMPLES, MethodSpec, register

BACKPACK = "Dangel, Kunstner & Hennig (2020), BackPACK"
#: what BackPACK's extensions have rules for (read from backpack.extensions.secondorder, v1.7)
NO_BATCHNORM = "Linear, Conv2d, pooling; not BatchNorm"
KRONECKER = "Linear, Conv2d (BackPACK's conv convention); not BatchNorm"
PYHESSIAN = "Yao et al. (2020), PyHessian"

# exact references
register(MethodSpec("exact_hessian", "Exact Hessian", "exact", "hessian", "dense_methods:exact_hessian",
                    {"float64": False}, dense=True,
                    reference="Pearlmutter (1994), Fast exact multiplication by the Hessian"))
register(MethodSpec("exact_ggn", "Exact GGN", "exact", "ggn", "dense_methods:exact_ggn", {"float64": False},
                    dense=True, reference="Schraudolph (2002), Fast curvature matrix-vector products"))
# PyHessian, as the paper used it
register(MethodSpec("pyhessian_top_k", "PyHessian power iteration", "pyhessian", "hessian",
                    "pyhessian_methods:pyhessian_top_k", {"k": 10, "max_iter": 100, "tol": 1e-3, "seed": 0},
                    stochastic=True, yields=("top",), finds_largest_magnitude=True, reference=PYHESSIAN))
register(MethodSpec("pyhessian_hutchinson", "PyHessian Hutchinson", "pyhessian", "hessian",
                    "pyhessian_methods:pyhessian_hutchinson", {"samples": 25, "seed": 0}, stochastic=True,
                    yields=("trace",), reference="Avron & Toledo (2011); " + PYHESSIAN))
register(MethodSpec("pyhessian_density", "PyHessian SLQ density", "pyhessian", "hessian",
                    "pyhessian_methods:pyhessian_density", {"iterations": 100, "runs": 1, "seed": 0},
                    stochastic=True, yields=("trace", "density"), reference="Ghorbani et al. (2019); " + PYHESSIAN))
# BackPACK's six extensions
register(MethodSpec("diag_hessian", "BackPACK DiagHessian", "backpack", "hessian",
                    "backpack_methods:diag_hessian", reference=BACKPACK, handles=NO_BATCHNORM))
register(MethodSpec("diag_ggn_exact", "BackPACK DiagGGNExact", "backpack", "ggn",
                    "backpack_methods:diag_ggn_exact", reference=BACKPACK,
                    handles="Linear, Conv2d, pooling, BatchNorm"))
register(MethodSpec("diag_ggn_mc", "BackPACK DiagGGNMC", "backpack", "ggn", "backpack_methods:diag_ggn_mc",
                    {"mc_samples": 1, "seed": 0}, stochastic=True, reference=BACKPACK,
                    handles="Linear, Conv2d, pooling, BatchNorm"))
register(MethodSpec("kfac", "BackPACK KFAC", "backpack", "ggn", "backpack_methods:kfac",
                    {"mc_samples": 1, "seed": 0}, stochastic=True,
                    reference="Martens & Grosse (2015), KFAC; " + BACKPACK, handles=KRONECKER))
register(MethodSpec("kflr", "BackPACK KFLR", "backpack", "ggn", "backpack_methods:kflr",
                    reference="Botev, Ritter & Barber (2017); " + BACKPACK, handles=KRONECKER))
register(MethodSpec("kfra", "BackPACK KFRA", "backpack", "ggn", "backpack_methods:kfra",
                    reference="Botev, Ritter & Barber (2017); " + BACKPACK, handles=KRONECKER))
# curvlinops
register(MethodSpec("ekfac", "EKFAC (curvlinops)", "curvlinops", "ggn", "backpack_methods:ekfac", {"seed": 0},
                    reference="George et al. (2018), EKFAC; Dangel et al., curvlinops",
                    handles="Linear, Conv2d; not BatchNorm"))
# matrix-free estimators over our batched products
register(MethodSpec("lanczos", "Lanczos top/bottom-k", "matrix-free", "hessian", "matrix_free:lanczos",
                    {"k": 10, "tol": 1e-7, "bottom": True, "max_products": 5000, "seed": 0},
                    yields=("top", "bottom"),
                    reference="Lanczos (1950); Lehoucq, Sorensen & Yang (1998), ARPACK"))
register(MethodSpec("hutchinson", "Hutchinson (batched)", "matrix-free", "hessian", "matrix_free:hutchinson",
                    {"samples": DEFAULT_SAMPLES, "seed": 0}, stochastic=True, yields=("trace",),
                    reference="Hutchinson (1989); Avron & Toledo (2011)"))
register(MethodSpec("hutchpp", "Hutch++", "matrix-free", "hessian", "matrix_free:hutchpp",
                    {"samples": DEFAULT_SAMPLES, "seed": 0}, stochastic=True, yields=("trace",), budget_multiple=3,
                    reference="Meyer, Musco, Musco & Woodruff (2021), Hutch++"))
register(MethodSpec("xtrace", "XTrace", "matrix-free", "hessian", "matrix_free:xtrace",
                    {"samples": DEFAULT_SAMPLES, "seed": 0}, stochastic=True, yields=("trace",), budget_multiple=2,
                    reference="Epperly, Tropp & Webber (2024), XTrace"))
register(MethodSpec("slq", "SLQ density (Lanczos, ours)", "matrix-free", "hessian", "slq:slq",
                    {"iterations": 80, "runs": 4, "seed": 0}, stochastic=True, yields=("trace", "density"),
                    reference="Ubaru, Chen & Saad (2017); Ghorbani, Krishnan & Xiao (2019)"))

#: what the app selects unless the user changes it: the paper's methods (PyHessian's top-k
#: and trace, BackPACK's six) plus Lanczos and Hutch++; the rest are one click away
DEFAULT_SELECTION = ("pyhessian_top_k", "pyhessian_hutchinson", "diag_hessian", "diag_ggn_exact", "diag_ggn_mc",
                     "kfac", "kflr", "kfra", "lanczos", "hutchpp")
