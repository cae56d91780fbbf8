"""Concurrent publishers and unfinished builds.

One publisher per version folder at a time (a lease on ``bdc-v{X}/``); publishers of different versions
run side by side; a build that finds its predecessor died between writing data and committing the
registry rebuilds every table, so registry and data agree again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import biodata_cache as bdc
from biodata_cache import publish
from biodata_cache.errors import ConflictError
from biodata_cache.lease import LEASE_FILE, PublishLease
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables
from biodata_cache.tables import TABLES

RECORDS = Path(__file__).parent / "data" / "aind_records"


def _source(tmp_path: Path, name: str, subjects: list[str]) -> str:
    """A JSONL source whose records carry the given subject ids (one QC metric each)."""
    path = tmp_path / f"{name}.jsonl"
    lines = []
    for i, subject in enumerate(subjects):
        record = {
            "_id": f"{name}-{i}",
            "name": f"{name}-asset-{i}",
            "_last_modified": "2025-01-01T00:00:00Z",
            "subject": {"subject_id": subject},
            "data_description": {"project_name": name, "data_level": "raw"},
            "quality_control": {"metrics": [{"name": f"{name}-m{i}", "value": i}]},
        }
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))
    return str(path)


def _snapshot(monkeypatch, root: str) -> dict:
    """Every table of the store as sorted rows, checked against the registry's row counts."""
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    registry = bdc.get_cache_registry()
    tables = {}
    for table in TABLES:
        if table.custom_input:  # built from a custom table, which these stores do not have
            continue
        rows = bdc.read_table(table.name).to_pylist()
        assert registry[table.name].rows == len(rows), f"registry disagrees with {table.name}"
        tables[table.name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    assert registry["qc"].partitions == len({json.loads(r)["subject_id"] for r in tables["qc"]})
    return tables


@pytest.fixture(params=["local", "memory", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    if request.param == "memory":
        return "memory://publishers"
    return request.getfixturevalue("s3_root")


def test_a_second_publisher_of_the_same_version_fails_clearly_then_waits(root, tmp_path):
    source = _source(tmp_path, "alpha", ["1", "2"])
    holder = PublishLease(Store(root), "bdc-v0.1", ttl=1.0)  # renewed every 0.2 s: seen alive at once
    holder.acquire()
    try:
        with pytest.raises(ConflictError, match=r"another publisher is publishing bdc-v0\.1.*process"):
            update_all_tables(source=source, root=root, progress=False)
        threading.Timer(0.5, holder.release).start()
        report = update_all_tables(source=source, root=root, progress=False, wait=30)
    finally:
        holder.release()
    assert report.rows["qc"] == 2


def test_concurrent_publishers_of_one_version_never_mix_builds(monkeypatch, root, tmp_path):
    sources = [_source(tmp_path, "alpha", ["1", "2", "3"]), _source(tmp_path, "beta", ["3", "4"])]
    expected = {}
    for i, source in enumerate(sources):
        expected_root = str(tmp_path / f"expected-{i}")
        update_all_tables(source=source, root=expected_root, progress=False)
        expected[source] = _snapshot(monkeypatch, expected_root)
    for trial in range(3):
        order = sources if trial % 2 == 0 else sources[::-1]
        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(
                pool.map(
                    lambda s: update_all_tables(source=s, root=root, progress=False, full=True, wait=60),
                    order,
                )
            )
        assert all(r.rows for r in reports)
        found = _snapshot(monkeypatch, root)
        assert found in (expected[sources[0]], expected[sources[1]])


def test_publishers_of_different_versions_run_concurrently(monkeypatch, root, tmp_path):
    source = _source(tmp_path, "alpha", ["1", "2"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(
            pool.map(
                lambda v: update_all_tables(source=source, root=root, version=v, progress=False),
                ["0.1", "0.2"],
            )
        )
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert bdc.get_cache_versions() == ["bdc-v0.1", "bdc-v0.2"]


def test_a_killed_local_publishers_lease_and_temporary_files_are_cleared_at_once(tmp_path):
    root = str(tmp_path / "store")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    lease = Path(root) / "bdc-v0.1" / LEASE_FILE
    lease.parent.mkdir(parents=True)
    lease.write_text(
        json.dumps({"owner": "killed", "host": os.uname().nodename, "pid": int(dead.stdout), "expires": 4e9})
    )
    abandoned = Path(root) / "bdc-v0.1" / "qc" / f"subject_id=1/data.pqt.tmp-{int(dead.stdout)}-0a1b"
    abandoned.parent.mkdir(parents=True)
    abandoned.write_bytes(b"half a parquet file")
    report = update_all_tables(source=_source(tmp_path, "alpha", ["1"]), root=root, progress=False)
    assert report.rows["qc"] == 1
    assert not abandoned.exists()


def test_a_lease_whose_holder_stopped_renewing_is_taken_over_after_its_ttl_without_wait(s3_root):
    store = Store(s3_root)
    first = PublishLease(store, "bdc-v0.1", ttl=1.0)
    first.acquire()
    first._stop.set()  # the holder stops renewing, as a killed process would
    started = time.monotonic()
    second = PublishLease(store, "bdc-v0.1")  # wait=0: a live holder would make this fail
    second.acquire()
    assert 1.0 <= time.monotonic() - started < 10
    with pytest.raises(ConflictError, match="lost its publish lease"):
        first.check()
    second.release()


def test_a_lease_that_is_renewed_is_never_taken_over(s3_root):
    store = Store(s3_root)
    holder = PublishLease(store, "bdc-v0.1", ttl=0.5)
    holder.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(ConflictError, match=r"another publisher is publishing.*running"):
            PublishLease(store, "bdc-v0.1", wait=2.0).acquire()  # four ttls of watching
        assert time.monotonic() - started >= 2.0
        holder.check()  # still ours
    finally:
        holder.release()


def test_a_lease_is_judged_by_the_watchers_clock_not_the_holders(s3_root):
    store = Store(s3_root)

    def lease(expires: float) -> bytes:
        document = {"owner": "elsewhere", "host": "h", "pid": 1, "ttl": 1.0, "expires": expires}
        return json.dumps(document).encode()

    # The holder's clock is an hour ahead: by its expiry the lease has 1 h left, but it is not renewed.
    store.write_bytes(f"bdc-v0.1/{LEASE_FILE}", lease(time.time() + 3600))
    started = time.monotonic()
    taker = PublishLease(store, "bdc-v0.1")
    taker.acquire()
    taker.release()
    assert 1.0 <= time.monotonic() - started < 10
    # A lease that expired long ago (a build killed last night) is taken over at once.
    store.write_bytes(f"bdc-v0.1/{LEASE_FILE}", lease(time.time() - 3600))
    started = time.monotonic()
    taker = PublishLease(store, "bdc-v0.1")
    taker.acquire()
    taker.release()
    assert time.monotonic() - started < 1.0


def test_a_build_killed_between_data_and_registry_is_repaired_by_the_next(monkeypatch, tmp_path):
    records = tmp_path / "records"
    shutil.copytree(RECORDS, records)
    root = str(tmp_path / "store")
    update_all_tables(source=str(records), root=root, progress=False)

    derived = records / "v2_derived.json"
    record = json.loads(derived.read_text())
    record["_last_modified"] = "2026-03-01T00:00:00.000Z"
    record["quality_control"]["metrics"] = record["quality_control"]["metrics"][:5]
    derived.write_text(json.dumps(record))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the data, before the registry")

    monkeypatch.setattr(publish, "publish_registry", killed)
    monkeypatch.setattr("biodata_cache.publish.publish_registry", killed)
    with pytest.raises(KeyboardInterrupt):
        update_all_tables(source=str(records), root=root, progress=False)
    monkeypatch.undo()

    report = update_all_tables(source=str(records), root=root, progress=False)
    assert report.repaired and report.full
    assert "repairing an unfinished build" in str(report)
    update_all_tables(source=str(records), root=str(tmp_path / "fresh"), progress=False)
    assert _snapshot(monkeypatch, root) == _snapshot(monkeypatch, str(tmp_path / "fresh"))
    assert _snapshot(monkeypatch, root)["qc"] != []
    again = update_all_tables(source=str(records), root=root, progress=False)
    assert not again.full and not again.repaired  # the repair finished the job: back to incremental


def test_the_repair_of_a_killed_build_removes_the_empty_partition_folders_it_left(monkeypatch, tmp_path):
    """A build killed in its clean-up, after deleting a partition's files and before removing their
    folder, leaves an empty partition folder; the next build repairs it and removes the folder."""
    records = tmp_path / "records"
    shutil.copytree(RECORDS, records)
    root = tmp_path / "store"
    update_all_tables(source=str(records), root=str(root), progress=False)
    empty = root / "bdc-v0.1" / "qc" / "subject_id=000000"
    empty.mkdir()  # what the killed clean-up left
    derived = records / "v2_derived.json"
    record = json.loads(derived.read_text())
    record["_last_modified"] = "2026-03-01T00:00:00.000Z"
    derived.write_text(json.dumps(record))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before its clean-up finished")

    monkeypatch.setattr("biodata_cache.publish.publish_registry", killed)
    with pytest.raises(KeyboardInterrupt):
        update_all_tables(source=str(records), root=str(root), progress=False)
    monkeypatch.undo()
    assert empty.is_dir()
    report = update_all_tables(source=str(records), root=str(root), progress=False)
    assert report.repaired
    assert not empty.exists()


@pytest.mark.parametrize("seed", range(5))
def test_a_build_killed_at_a_random_moment_is_repaired_by_the_next(monkeypatch, tmp_path, seed):
    """SIGKILL a real build process at a seeded random moment; the next build leaves a consistent store."""
    import random
    import signal
    import time

    root = tmp_path / "store"
    update_all_tables(source=str(RECORDS), root=str(root), progress=False)
    command = [sys.executable, "-m", "biodata_cache.cli", "--root", str(root), "build", "--source", "sample"]
    process = subprocess.Popen([*command, "--no-progress", "--workers", "1"], stdout=subprocess.DEVNULL)
    state = root / "bdc-v0.1" / "_build" / "state.json"
    deadline = time.monotonic() + 60
    while "unfinished" not in state.read_text() and time.monotonic() < deadline:
        time.sleep(0.002)  # until the build starts writing
    time.sleep(random.Random(seed).uniform(0.0, 0.4))  # then somewhere in its writes (or just after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    for table in TABLES:  # whatever the moment, every table the catalog lists can be read
        if not table.custom_input:  # (not published without its custom table)
            bdc.read_table(table.name)

    update_all_tables(source="sample", root=str(root), progress=False)
    assert not list(root.rglob("*.tmp-*")) and not list(root.rglob("*.lock"))
    update_all_tables(source="sample", root=str(tmp_path / "fresh"), progress=False)
    assert _snapshot(monkeypatch, str(root)) == _snapshot(monkeypatch, str(tmp_path / "fresh"))
