"""Your own model in the app: the builder named on the server's command line, built once.

``streamlit run app/Home.py -- --model package.module:function`` (the arguments after ``--``
are the script's, :func:`model_spec` reads them) makes the "Your model" page load that builder
through :func:`core.own_model.from_builder`: a function returning ``(model, x, y[, loss])``,
imported from the folder the server was started in. It is never read from the URL, a widget or
a file the page is given: only the person who starts the server chooses code to run.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import streamlit as st

from core import own_model

if TYPE_CHECKING:
    from core.problem import Problem

#: what the page shows when the server was started without ``--model``
EXAMPLE = "streamlit run app/Home.py -- --model examples.own_models:build"


def model_spec(argv: list[str] | None = None) -> str | None:
    """The ``--model`` given to the script (``sys.argv`` after Streamlit's own options), or None.

    >>> model_spec(["app/Home.py", "--model", "examples.own_models:build"])
    'examples.own_models:build'
    >>> model_spec(["app/Home.py", "--mod", "x:y"]) is None  # no abbreviations: the name is exact
    True
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model")
    known, _ = parser.parse_known_args((sys.argv if argv is None else argv)[1:])
    return known.model


@st.cache_resource(show_spinner=False, max_entries=2)
def loaded(spec: str) -> "Problem":
    """The problem ``spec``'s builder returns, built (and one product timed) once per server; a
    builder that fails is not kept, so fixing the code and reloading the page tries again."""
    return own_model.from_builder(spec)
