"""Session-wide: every test and doctest uses a private joblib store, never the project's."""

import warnings

import pytest

from core import library_warnings, workspace


@pytest.fixture(autouse=True, scope="session")
def private_workspace(tmp_path_factory):
    library_warnings.quiet()
    warnings.filterwarnings("ignore", category=FutureWarning)
    with workspace.using(cache_dir=tmp_path_factory.mktemp("cache")):
        yield
