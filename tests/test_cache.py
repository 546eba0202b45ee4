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
    (path,) = [p for p in entries(fresh_cache) if joblib.load(p)[2].method == "exact_hessian"]
    tag, key, _ = joblib.load(path)
    joblib.dump((tag, key, {"not": "a Result"}), path)
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


def _store_files(store):
    return [p for p in store.rglob("*") if not p.is_symlink()]


def test_everything_the_store_creates_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with workspace.using(cache_dir=tmp_path / "store"):
            pipeline.run(SMALL, "hutchinson")
    finally:
        os.umask(old)
    made = _store_files(tmp_path / "store")
    assert made and all(stat_mode(p) & 0o077 == 0 for p in made), {str(p): oct(stat_mode(p)) for p in made}


def stat_mode(path):
    import stat

    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_store_that_is_ours_and_only_readable_by_others_is_made_private(tmp_path):
    store = tmp_path / "readable"
    store.mkdir(mode=0o755)
    os.chmod(store, 0o755)
    cache.check_store(store)
    assert stat_mode(store) == 0o700


def test_a_subfolder_others_can_write_is_refused_before_anything_is_loaded(fresh_cache):
    pipeline.run(SMALL, "hutchinson")
    function = fresh_cache / "result"
    os.chmod(function, 0o777)
    try:
        with pytest.raises(cache.CacheError, match="writable by others"):
            pipeline.run(SMALL, "hutchinson")
    finally:
        os.chmod(function, 0o700)


def test_an_entry_copied_from_another_configuration_is_recomputed(fresh_cache):
    import joblib

    pipeline.run(SMALL, "hutchinson", {"samples": 10})
    pipeline.run(SMALL, "hutchinson", {"samples": 20})
    by_samples = {joblib.load(p)[2].options["samples"]: p for p in entries(fresh_cache)
                  if joblib.load(p)[2].method == "hutchinson"}
    shutil.copyfile(by_samples[10], by_samples[20])  # same layout, another key
    served = pipeline.run(SMALL, "hutchinson", {"samples": 20})
    assert served.options["samples"] == 20 and len(served.samples) == 20
    assert cache.COMPUTE_COUNTS["hutchinson"] == 3


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_never_created(fresh_cache, tmp_path):
    pipeline.run(SMALL, "hutchinson", {"samples": 10})
    folder = entries(fresh_cache)[0].parent
    target = tmp_path / "outside" / "planted"
    target.parent.mkdir()
    from core.cache import cached

    @cached(returns=int)
    def _planted(x: int) -> int:
        return x

    lock_folder = fresh_cache / "planted" / cache.code_version()
    lock_folder.mkdir(parents=True, mode=0o700)
    os.chmod(lock_folder.parent, 0o700)
    import joblib

    key = joblib.hash({"x": 1})
    (lock_folder / f"{key}.lock").symlink_to(target)
    with pytest.raises(cache.CacheError, match="symbolic link"):
        _planted(1)
    assert not target.exists() and folder.exists()


def test_a_lock_held_by_a_stopped_process_is_said_and_refused_naming_its_pid(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys

    lock = tmp_path / "entry.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, signal, sys\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
        "print('held', flush=True); os.kill(os.getpid(), signal.SIGSTOP)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(cache, "LOCK_NOTICE_S", 0.2)
        with pytest.raises(cache.CacheError, match=f"held by process {holder.pid}"):
            with cache._file_lock(lock, wait_s=1.0):
                pass
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait()


def test_a_store_nothing_can_be_written_into_is_refused_before_any_work(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args):  # the file system says what a read-only mount says
        if str(path).startswith(str(tmp_path / "ro")) and flags & os.O_CREAT:
            raise OSError(30, "Read-only file system")
        return real_open(path, flags, *args)

    (tmp_path / "ro").mkdir(mode=0o700)
    before = dict(cache.COMPUTE_COUNTS)
    monkeypatch.setattr(os, "open", read_only)
    with workspace.using(cache_dir=tmp_path / "ro"):
        with pytest.raises(cache.CacheError, match="is not writable \\(Read-only file system\\)"):
            pipeline.run(SMALL, "hutchinson")
    assert dict(cache.COMPUTE_COUNTS) == before and not list((tmp_path / "ro").iterdir())


def test_a_store_under_a_file_size_limit_keeps_the_result_and_says_it_was_not_stored(tmp_path):
    import resource
    import subprocess
    import sys

    from factories import ROOT

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, "-m", "core", "run", "--dataset", "synthetic", "--hidden", "5",
                           "--epochs", "2", "--train-subset", "200", "--hessian-batch", "32", "--synthetic-dim", "4",
                           "--cache-dir", str(tmp_path / "store")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=small_files)
    assert proc.returncode == 0 and "maximum eigenvalue" in proc.stdout, proc.stderr[-2000:]
    notes = [line for line in proc.stderr.replace("\r", "\n").splitlines() if "cache: not stored:" in line]
    assert notes and all("File too large" in n and "the cache is unchanged" in n for n in notes)
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "store").rglob(".*.tmp"))  # no partial file left behind


def test_a_folder_where_an_entry_goes_is_one_line(fresh_cache):
    pipeline.run(SMALL, "hutchinson")
    (path,) = entries(fresh_cache)
    path.unlink()
    path.mkdir(mode=0o700)
    with pytest.raises(cache.CacheError, match="is a folder: remove it"):
        pipeline.run(SMALL, "hutchinson")
