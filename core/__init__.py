"""Hessian spectrum explorer: the engine (no Streamlit here).

``core.pipeline`` is the entry point: ``train``, ``build_problem``, ``run`` (one method,
cached), ``hessian_vs_ggn``; ``core.methods.REGISTRY`` lists the methods.
"""
