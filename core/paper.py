"""What the seed study reports (Motokawa, Naganuma & Ide, "Measuring the effect of approximation
methods on the eigenvalues of the Hessian in DNNs"): its table's numbers and its settings, the one
place they are written. Fig. 3's exact trace is the table's 22.40.

No imports: the method catalogue (PyHessian's Hutchinson default), the paper table
(:mod:`core.comparison`), the claims and the CLI read these.
"""

#: the paper's Hutchinson sample count m (its Fig. 2 right and its table)
HUTCHINSON_SAMPLES = 25
#: the eigenvalues it compares at the top (its Fig. 1)
TOP_K = 10

#: its table: the exact Hessian's and PyHessian's trace, top eigenvalue and times, on its MNIST MLP
TABLE = {
    "exact": {"trace": 22.40, "seconds_trace": 10.18, "max_eigenvalue": 3.31, "seconds_all": 32.26},
    "pyhessian": {"trace": 19.98, "seconds_trace": 7.64, "max_eigenvalue": 3.29, "seconds_all": 20 * 3600.0},
}
