"""Hessian spectrum explorer: the engine (no Streamlit, no benchmarks in here).

``core.pipeline`` is the cached API (``train``, ``build_problem``, ``run``, ``results_for``);
``core.studies`` the studies (trace study, Hessian vs GGN, width sweep, warm);
``core.tables`` and ``core.claims`` turn results into rows and verdicts;
``core.methods.REGISTRY`` lists the methods. See ``docs/ARCHITECTURE.md``.
"""
