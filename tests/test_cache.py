"""The cache serves the number a fresh run would give, or nothing (issue: cache integrity)."""

import os
import shutil
import threading

import numpy as np
import pytest

from core import cache, pipeline, workspace
from core.results import Result
from factories import SHARED_DATA, SMALL


def entries(store, function="result"):
    return sorted((store / function).rglob("*.pkl"))


def test_an_entry_of_the_wrong_type_or_unreadable_is_recomputed_with_one_line(fresh_cache, capsys):
    import joblib

    first = pipeline.run(SMALL, "exact_hessian")
    (path,) = [p for p in entries(fresh_cache) if joblib.load(p).method == "exact_hessian"]
    joblib.dump({"not": "a Result"}, path)
    again = pipeline.run(SMALL, "exact_hessian")
    assert isinstance(again, Result) and np.array_equal(again.spectrum, first.spectrum)
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 2
    path.write_bytes(b"\x80\x04 truncated garbage")
    pipeline.run(SMALL, "exact_hessian")
    assert cache.COMPUTE_COUNTS["exact_hessian"] == 3
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cache:")]
    assert len(notes) == 2 and "not a Result" in notes[0]


def test_a_code_change_keeps_the_other_versions_entries(fresh_cache, monkeypatch):
    pipeline.run(SMALL, "hutchinson")
    monkeypatch.setattr(pipeline, "code_version", lambda: "another-version")
    pipeline.run(SMALL, "hutchinson")
    assert cache.COMPUTE_COUNTS["hutchinson"] == 2
    monkeypatch.undo()
    pipeline.run(SMALL, "hutchinson")  # back to the first version: still there
    assert cache.COMPUTE_COUNTS["hutchinson"] == 2


def test_the_store_is_private_and_an_unsafe_one_is_refused(tmp_path):
    store = cache.check_store(tmp_path / "new")
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with workspace.using(cache_dir=shared), pytest.raises(cache.CacheError, match="writable by others"):
        pipeline.run(SMALL, "exact_hessian")
    (tmp_path / "file").write_text("x")
    with pytest.raises(cache.CacheError, match="not a directory"):
        cache.check_store(tmp_path / "file")


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    old = tmp_path / "run" / "v" / ".abc.pkl.1.2.tmp"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"partial")
    os.utime(old, (0, 0))
    fresh = old.with_name(".def.pkl.1.2.tmp")
    fresh.write_bytes(b"being written")
    assert cache.clean_temporary_files(tmp_path) == 1
    assert not old.exists() and fresh.exists()


def test_two_threads_computing_different_configs_give_the_seeded_values_of_each_alone(tmp_path):
    configs = [SMALL, SMALL.replace(seed=3)]
    alone = []
    for i, config in enumerate(configs):
        with workspace.using(cache_dir=tmp_path / f"alone{i}"):
            alone.append(pipeline.run(config, "pyhessian_hutchinson").trace)
    together = {}

    def compute(i):
        together[i] = pipeline.run(configs[i], "pyhessian_hutchinson").trace

    with workspace.using(cache_dir=tmp_path / "together"):
        threads = [threading.Thread(target=compute, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [together[0], together[1]] == alone


def test_concurrent_identical_requests_compute_once(fresh_cache):
    results = []
    threads = [threading.Thread(target=lambda: results.append(pipeline.run(SMALL, "slq"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.COMPUTE_COUNTS["slq"] == 1 and len({r.trace for r in results}) == 1


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").exists(), reason="../shared/data is not beside the project")
def test_data_added_to_the_folder_changes_the_result(tmp_path, monkeypatch):
    import core.data

    monkeypatch.setattr(core.data, "download_mnist", lambda *a: pytest.fail("a run tried to download"))
    config = SMALL.replace(dataset="mnist", input_size=7, hidden=(4,), train_subset=500, hessian_batch_size=50)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with workspace.using(data_dir=data_dir, cache_dir=tmp_path / "cache"):
        before = pipeline.train(config)
        shutil.copytree(SHARED_DATA / "MNIST", data_dir / "MNIST")
        after = pipeline.train(config)
        assert (before.dataset_used, after.dataset_used) == ("digits", "mnist-t10k")
        assert before.num_params == 64 * 4 + 4 + 50 and after.num_params == 49 * 4 + 4 + 50
        assert pipeline.run(config, "exact_hessian").ok
        assert pipeline.is_cached(config, "exact_hessian")  # the cached run needs no network either


def test_a_planted_entry_in_a_store_others_can_write_is_never_loaded(tmp_path):
    """A pickle that would run a command when loaded, planted where the entry would be."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    store = tmp_path / "store"
    with workspace.using(cache_dir=store):
        pipeline.run(SMALL, "exact_hessian")  # learn where the entry lives
        entry = entries(store)[0]
        entry.write_bytes(pickle.dumps(Payload()))
        os.chmod(store, 0o777)
        with pytest.raises(cache.CacheError, match="writable by others"):
            pipeline.run(SMALL, "exact_hessian")  # the same process, the store checked again
    assert not marker.exists()
