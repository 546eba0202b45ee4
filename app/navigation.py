"""The one list of pages: the entry point, the tests and the benchmarks all read it.

Adding a page: one file in ``app/views/`` and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    """A page: its file (relative to ``app/``), title, URL path and icon."""

    path: str
    title: str
    url_path: str
    icon: str

    @property
    def default(self) -> bool:
        return self.url_path == ""


PAGES = (
    PageInfo("views/home.py", "Home", "", ":material/home:"),
    PageInfo("views/top_eigenvalues.py", "Top eigenvalues", "Top_eigenvalues", ":material/leaderboard:"),
    PageInfo("views/trace.py", "Trace", "Trace", ":material/functions:"),
    PageInfo("views/hutchinson.py", "Hutchinson", "Hutchinson", ":material/casino:"),
    PageInfo("views/spectrum.py", "Spectrum", "Spectrum", ":material/bar_chart:"),
    PageInfo("views/landscape.py", "Loss landscape", "Landscape", ":material/landscape:"),
    PageInfo("views/cost.py", "Cost", "Cost", ":material/timer:"),
    PageInfo("views/training.py", "Training", "Training", ":material/trending_up:"),
    PageInfo("views/sweep.py", "Sweep", "Sweep", ":material/grid_view:"),
)
