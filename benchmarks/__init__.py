"""Benchmarks: side-by-side ratios measured in one process run (``python -m benchmarks``).

One module per row; :mod:`benchmarks.readme` writes the README's table. Competitors are
interleaved within each repeat so machine noise hits both alike; every timed row reports
min/median/max over repeats. No timed tests exist anywhere: speed is judged here.
"""
