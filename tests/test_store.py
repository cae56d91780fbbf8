"""The store on memory, local disk and moto S3: atomic writes, conditional updates, retries."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import publish_fixture

from biodata_cache.registry import add_version, read_versions
from biodata_cache.store import Store, with_retries


@pytest.fixture(params=["memory", "local", "s3"])
def root(request, tmp_path):
    if request.param == "memory":
        return "memory://store-test"
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_root")


def test_bytes_json_and_missing_objects(root):
    store = Store(root)
    store.write_json("a/b.json", {"x": 1})
    assert store.read_json("a/b.json") == {"x": 1}
    assert store.exists("a/b.json") and not store.exists("a/c.json")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/c.json")


def test_concurrent_version_publishers_never_lose_a_version(root):
    store = Store(root)
    versions = [f"bdc-v0.{i}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda v: add_version(Store(root), v), versions))
    assert read_versions(store) == sorted(versions, key=lambda v: int(v.split(".")[1]))


def test_s3_conditional_update_retries_when_another_writer_got_there_first(s3_root):
    # On S3 the write is conditional on the ETag that was read; on local disk and in memory a lock
    # serialises every update_bytes call instead (covered by the concurrency tests above).
    root = s3_root
    store = Store(root)
    store.write_bytes("counter", b"0")
    calls = []

    def change(current):
        calls.append(current)
        if len(calls) == 1:
            # Another publisher writes between our read and our write.
            Store(root).write_bytes("counter", b"10")
        return str(int(current) + 1).encode()

    store.update_bytes("counter", change)
    assert store.read_bytes("counter") == b"11"
    assert calls == [b"0", b"10"]


def test_concurrent_publishes_of_two_versions_both_reach_the_top_catalog(root):
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda v: publish_fixture(root, version=v), ["0.1", "0.2"]))
    store = Store(root)
    top = store.read_bytes("catalog.yaml").decode()
    assert "bdc-v0.1/catalog.yaml" in top and "bdc-v0.2/catalog.yaml" in top
    assert json.loads(store.read_bytes("cache_versions.json")) == ["bdc-v0.1", "bdc-v0.2"]


def _s3_error(status: int, code: str) -> OSError:
    """An error as s3fs raises it: an OSError caused by botocore's ClientError."""
    from botocore.exceptions import ClientError

    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    cause = ClientError(response, "GetObject")
    error = OSError(f"{code}: request failed")
    error.__cause__ = cause
    return error


def test_transient_errors_are_retried_and_others_raise_at_once():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise _s3_error(503, "SlowDown")
        return "ok"

    assert with_retries(flaky, what="test", base_delay=0.001) == "ok"
    assert len(attempts) == 3

    denied = []

    def refuse():
        denied.append(1)
        raise PermissionError("AccessDenied")

    with pytest.raises(PermissionError):
        with_retries(refuse, what="test", base_delay=0.001)
    assert len(denied) == 1


def test_local_writes_leave_no_temporary_files(tmp_path):
    store = Store(str(tmp_path))
    store.write_bytes("x/data.pqt", b"1")
    store.write_bytes("x/data.pqt", b"2")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["data.pqt"]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_find_lists_every_file_at_any_depth_relative_and_sorted(backend, tmp_path, s3_root):
    store = Store(str(tmp_path / "store") if backend == "local" else s3_root)
    for relpath in [
        "v/b.pqt",
        "v/qc/subject_id=2/data.pqt",
        "v/qc/subject_id=10/data.pqt",
        "v/_build/x.json",
    ]:
        store.write_bytes(relpath, b"x")
    store.write_bytes("other/c.pqt", b"x")
    assert store.find("v") == [
        "_build/x.json",
        "b.pqt",
        "qc/subject_id=10/data.pqt",
        "qc/subject_id=2/data.pqt",
    ]
    assert store.find("v/qc") == ["subject_id=10/data.pqt", "subject_id=2/data.pqt"]
    assert store.find("missing") == []


def test_remove_empty_parents_removes_only_the_emptied_folders_of_removed_files_below_the_top(tmp_path):
    top = tmp_path / "v" / "qc"
    for folder in ("subject_id=1/a", "subject_id=2", "subject_id=3", "subject_id=5"):
        (top / folder).mkdir(parents=True)
    (top / "subject_id=2" / "other.pqt").write_bytes(b"x")  # still holds a file: kept
    store = Store(str(tmp_path))
    # subject_id=1/a/data.pqt and subject_id=2/data.pqt were removed; subject_id=3 is empty but was not
    # the folder of a removed file (not listed), and v/qc itself is the top (kept even when emptied).
    store.remove_empty_parents(["v/qc/subject_id=1/a/data.pqt", "v/qc/subject_id=2/data.pqt"], "v/qc")
    left = sorted(p.relative_to(top).as_posix() for p in top.rglob("*"))
    assert left == ["subject_id=2", "subject_id=2/other.pqt", "subject_id=3", "subject_id=5"]
    store.remove_empty_parents(["v/qc/subject_id=3/x.pqt", "v/qc/subject_id=5/x.pqt"], "v/qc")
    store.remove_empty_parents(["v/qc/subject_id=2/other.pqt"], "v/qc")  # its file is still there
    assert sorted(p.relative_to(top).as_posix() for p in top.rglob("*")) == [
        "subject_id=2",
        "subject_id=2/other.pqt",
    ]
    assert top.is_dir()


def test_remove_empty_folders_removes_nested_empty_folders_and_keeps_those_with_files(tmp_path):
    top = tmp_path / "qc"
    for folder in ("subject_id=1/a/b", "subject_id=2/c", "subject_id=3", "subject_id=4/d"):
        (top / folder).mkdir(parents=True)
    (top / "subject_id=2" / "data.pqt").write_bytes(b"x")
    (top / "subject_id=4" / "d" / "data.pqt").write_bytes(b"x")
    Store(str(tmp_path)).remove_empty_folders("qc")
    left = sorted(p.relative_to(top).as_posix() for p in top.rglob("*"))
    assert left == [
        "subject_id=2",
        "subject_id=2/data.pqt",
        "subject_id=4",
        "subject_id=4/d",
        "subject_id=4/d/data.pqt",
    ]


def test_an_empty_lock_file_left_by_a_killed_writer_is_taken_over_once_its_grace_has_passed(tmp_path):
    """A process killed between creating a lock file and writing its name into it leaves an empty file:
    older than the grace it is removed and the lock taken (it used to block writers for 5 minutes); a
    fresh empty one is still respected."""
    from biodata_cache.store import EMPTY_LOCK_GRACE, _lock_holder_gone

    lock = tmp_path / "lease.json.lock"
    lock.write_text("")
    assert not _lock_holder_gone(str(lock), stale_after=300)
    old = time.time() - EMPTY_LOCK_GRACE - 1
    os.utime(lock, (old, old))
    assert _lock_holder_gone(str(lock), stale_after=300)
    store = Store(str(tmp_path / "store"))
    held = tmp_path / "store" / "state.json.lock"
    held.parent.mkdir()
    held.write_text("")
    os.utime(held, (old, old))
    assert store.update_bytes("state.json", lambda current: b"new") == b"new"
    assert not held.exists()
