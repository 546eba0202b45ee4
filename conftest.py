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


@pytest.fixture(autouse=True)
def keep_main_module():
    """AppTest installs the page it ran as ``__main__``; processes spawned later (Dask workers,
    loky, multiprocessing) would re-run it. Put the real one back after every test."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
