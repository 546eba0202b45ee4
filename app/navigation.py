"""The one list of pages: the entry point, the tests and the benchmarks all read it.

Adding a page: one file in ``app/views/`` and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    """A page: its file (relative to ``app/``), title, URL path and icon, and whether it shows the
    sidebar's configuration (what the app computes ahead of the user is for those pages)."""

    path: str
    title: str
    url_path: str
    icon: str
    reads_configuration: bool = True

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
    PageInfo("views/own_model.py", "Your model", "Your_model", ":material/model_training:", reads_configuration=False),
)

#: the pages that show the sidebar's configuration (all but Your model)
CONFIGURATION_PAGES = tuple(p for p in PAGES if p.reads_configuration)


def page_info(url_path: str) -> PageInfo:
    """The page of :data:`PAGES` at ``url_path`` (``""``: Home)."""
    return next(p for p in PAGES if p.url_path == url_path)
