"""Atomic releases: a reader during or after a publish gets exactly one build; a killed build harms no reader.

* Readers in threads and in processes loop over the one-liners while a build publishes a changed
  release to the moto S3 server; every result must equal the first or the second release's answer,
  no call may fail, and each reader's first call after the commit returns the new release.
* A build process is SIGKILLed at seeded random moments; after each kill every table reads as the
  previous release (or, for a kill after the commit, as the new one), and the next build completes and
  leaves one file per table and partition, no temporary file, no lock.

``pytest -s tests/test_atomic_releases.py`` prints the tallies (also in
``tests/output/atomic_releases.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import biodata_cache as bdc
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables
from biodata_cache.tables import TABLES

TALLY_FILE = Path(__file__).parent / "output" / "atomic_releases.json"
SUBJECT = "s0003"  # a subject whose QC rows change between the two releases


def _source(path: Path, release: int, subjects: int = 40) -> str:
    """A JSONL source of ``subjects`` subjects with 3 assets each; release 2 changes a third of them,
    drops one subject and adds one."""
    lines = []
    for s in range(subjects + (1 if release == 2 else 0)):
        if release == 2 and s == 1:
            continue  # a subject gone from the second release
        changed = release == 2 and s % 3 == 0
        for a in range(3):
            lines.append(
                json.dumps(
                    {
                        "_id": f"id-{s}-{a}",
                        "name": f"ecephys_s{s:04d}_asset{a}",
                        "_last_modified": f"2025-0{2 if changed else 1}-01T00:00:00Z",
                        "subject": {"subject_id": f"s{s:04d}"},
                        "data_description": {
                            "project_name": f"project-{s % 4}{'-v2' if changed else ''}",
                            "data_level": "raw",
                            "modalities": [{"abbreviation": "ecephys"}],
                        },
                        "quality_control": {
                            "metrics": [
                                {
                                    "name": f"metric-{m}",
                                    "value": m + (100 if changed else 0),
                                    "status": "Pass",
                                }
                                for m in range(4)
                            ]
                        },
                    }
                )
            )
    path.write_text("\n".join(lines) + "\n")
    return str(path)


CALLS = {
    "qc()": lambda: bdc.qc(),
    "qc(subject)": lambda: bdc.qc(SUBJECT),
    "asset_basics()": lambda: bdc.asset_basics(),
    "unique_subject_ids()": lambda: bdc.unique_subject_ids(),
    "unique_project_names()": lambda: bdc.unique_project_names(),
    "metadata_core()": lambda: bdc.metadata_core(),
    "qc(raw_asset_name)": lambda: bdc.qc(raw_asset_name="ecephys_s0003_asset0"),
}


def _digest(result) -> str:
    """A digest of a reader's answer that does not depend on row order."""
    if isinstance(result, list):
        rows = [json.dumps(v) for v in result]
    else:
        rows = [json.dumps(r, sort_keys=True, default=str) for r in result.to_dict(orient="records")]
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def _answers(monkeypatch, root: str) -> dict[str, str]:
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return {name: _digest(call()) for name, call in CALLS.items()}


READER_PROCESS = """
import json, sys, time, warnings, hashlib
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[3])
import biodata_cache as bdc
from test_atomic_releases import CALLS, _digest
import os
stop, out = sys.argv[1], sys.argv[2]
seen = []
deadline = time.time() + 60
while not os.path.exists(stop) and time.time() < deadline:
    for name, call in CALLS.items():
        started = time.time()
        try:
            seen.append([name, started, _digest(call()), None])
        except Exception as error:
            seen.append([name, started, None, f"{type(error).__name__}: {error}"])
json.dump(seen, open(out, "w"))
"""


def _tally(results, expected, committed_at):
    calls = len(results)
    errors = [r for r in results if r[3] is not None]
    mixed = [r for r in results if r[3] is None and r[2] not in (expected[0][r[0]], expected[1][r[0]])]
    stale = [r for r in results if r[3] is None and r[1] > committed_at and r[2] != expected[1][r[0]]]
    return {
        "calls": calls,
        "mixed": len(mixed),
        "errors": len(errors),
        "old_after_commit": len(stale),
    }, errors


def _record(key: str, value: dict) -> None:
    TALLY_FILE.parent.mkdir(exist_ok=True)
    tally = json.loads(TALLY_FILE.read_text()) if TALLY_FILE.exists() else {}
    tally[key] = value
    TALLY_FILE.write_text(json.dumps(tally, indent=2) + "\n")
    print(key, value)


@pytest.mark.filterwarnings("ignore::biodata_cache.NoMatchWarning")
def test_readers_during_a_publish_get_exactly_one_release(monkeypatch, tmp_path, s3_root, s3_endpoint):
    sources = [_source(tmp_path / "one.jsonl", 1, 12), _source(tmp_path / "two.jsonl", 2, 12)]
    expected = []
    for i, source in enumerate(sources):
        update_all_tables(source=source, root=str(tmp_path / f"expected-{i}"), progress=False)
        expected.append(_answers(monkeypatch, str(tmp_path / f"expected-{i}")))
    assert all(expected[0][name] != expected[1][name] for name in CALLS)  # every call sees the change

    records = tmp_path / "records.jsonl"  # one source whose records change: the build is incremental
    records.write_text(Path(sources[0]).read_text())
    update_all_tables(source=str(records), root=s3_root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    assert _answers(monkeypatch, s3_root) == expected[0]

    done = threading.Event()
    results: list[list] = []
    lock = threading.Lock()
    after_commit: dict[int, str] = {}

    def reader(number: int) -> None:
        names = list(CALLS)
        i = number
        while not done.is_set() or number not in after_commit:
            name = names[i % len(names)]
            i += 1
            started = time.time()
            finished = done.is_set()
            try:
                entry = [name, started, _digest(CALLS[name]()), None]
            except Exception as error:
                entry = [name, started, None, f"{type(error).__name__}: {error}"]
            with lock:
                results.append(entry)
            if finished and number not in after_commit:
                after_commit[number] = "new" if entry[2] == expected[1][name] else f"old: {entry}"

    stop = tmp_path / "stop"
    env = {**os.environ, "BIODATA_CACHE_ROOT": s3_root, "PYTHONWARNINGS": "ignore"}
    processes = []
    for p in range(2):
        out = tmp_path / f"reader-{p}.json"
        command = [sys.executable, "-c", READER_PROCESS, str(stop), str(out), str(Path(__file__).parent)]
        processes.append((subprocess.Popen(command, env=env), out))
    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the processes have imported and are reading
    records.write_text(Path(sources[1]).read_text())
    report = update_all_tables(source=str(records), root=s3_root, progress=False)
    committed_at = time.time()
    done.set()
    for thread in threads:
        thread.join(60)
    time.sleep(0.5)  # the processes read the new release for a while
    stop.touch()
    process_results = []
    for process, out in processes:
        process.wait(60)
        process_results.extend(json.loads(out.read_text()))
    assert not report.full and report.partitions_written  # an incremental build
    threads_tally, thread_errors = _tally(results, expected, committed_at + 0.5)
    processes_tally, process_errors = _tally(process_results, expected, committed_at + 0.5)
    _record(
        "readers_during_publish",
        {"threads": threads_tally, "processes": processes_tally, "publish_seconds": round(report.seconds, 1)},
    )
    assert not thread_errors and not process_errors, (thread_errors + process_errors)[:3]
    assert threads_tally["mixed"] == 0 and processes_tally["mixed"] == 0
    assert all(seen == "new" for seen in after_commit.values()), after_commit
    assert threads_tally["old_after_commit"] == 0 and processes_tally["old_after_commit"] == 0
    assert _answers(monkeypatch, s3_root) == expected[1]


def _stray_files(root: str) -> list[str]:
    """Files of the version folder that are not one per table / partition / manifest / projection of the
    release, temporary files and locks."""
    registry = bdc.get_cache_registry()
    store = Store(root)
    expected = {"catalog.yaml", "cache_registry.json"}
    for table in registry:
        if table.partitioned:
            expected.add(table.manifest)
            manifest = json.loads(store.read_bytes(f"bdc-v0.1/{table.manifest}"))
            expected.update(f["path"] for f in manifest["files"].values())
        else:
            expected.add(table.path)
            expected.update(table.projections.values())  # asset_basics ordered by project
    store.fs.invalidate_cache()
    folder = store.url("bdc-v0.1").split("://", 1)[-1]
    found = {path.split("://", 1)[-1][len(folder) + 1 :] for path in store.fs.find(folder)}
    found = {f for f in found if not f.startswith("_build/") or ".tmp-" in f or f.endswith(".lock")}
    return sorted(found - expected) + sorted(f"missing {f}" for f in expected - found)


def _snapshot(monkeypatch, root: str) -> dict[str, str]:
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    # (a table built from a custom table is not published: these stores have none)
    return {
        table.name: _digest(bdc.read_table(table.name).to_pandas())
        for table in TABLES
        if not table.custom_input
    }


def _duckdb_rows(root: str) -> tuple[int, int]:
    """Rows of qc and asset_basics as docs/how-to/query-with-duckdb.md reads them (the globs)."""
    import duckdb

    folder = f"{root}/bdc-v0.1"
    qc = f"read_parquet('{folder}/qc/*/*.pqt', hive_partitioning = true)"
    asset_basics = f"read_parquet('{folder}/asset_basics-*.pqt')"
    return tuple(duckdb.sql(f"select count(*) from {t}").fetchall()[0][0] for t in (qc, asset_basics))


# A build process whose publish lease lasts 2 s without renewal (30 s by default), so that on S3, where
# a killed holder cannot be recognised by its process id, the next build takes it over after 2 s.
KILLED_BUILD = "import sys, biodata_cache.lease as lease; lease.DEFAULT_TTL = 2.0; "
KILLED_BUILD += "from biodata_cache.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.filterwarnings("ignore::biodata_cache.NoMatchWarning")
@pytest.mark.parametrize("where, kills, within", [("local", 6, 0.5), ("s3", 4, 2.0)])
def test_a_killed_build_leaves_the_previous_release_and_the_next_build_cleans_up(
    monkeypatch, tmp_path, request, where, kills, within
):
    sources = [_source(tmp_path / "one.jsonl", 1, 100), _source(tmp_path / "two.jsonl", 2, 100)]
    snapshots = []
    for i, source in enumerate(sources):
        update_all_tables(source=source, root=str(tmp_path / f"expected-{i}"), progress=False)
        snapshots.append(_snapshot(monkeypatch, str(tmp_path / f"expected-{i}")))
    root = str(tmp_path / "store") if where == "local" else request.getfixturevalue("s3_root")
    store = Store(root)
    update_all_tables(source=sources[0], root=root, progress=False)
    rng = random.Random(14)
    tally = {"kills": 0, "previous_release": 0, "new_release": 0, "inconsistent": 0, "repaired": 0}
    tally["leases_left"] = 0  # kills that left the lease held (the next build had to take it over)
    current = 0
    for _ in range(kills):
        target = 1 - current
        command = [sys.executable, "-c", KILLED_BUILD, "--root", root, "build", "--source"]
        process = subprocess.Popen([*command, sources[target], "--no-progress", "--workers", "1"])
        deadline = time.monotonic() + 60
        while b"unfinished" not in store.read_bytes("bdc-v0.1/_build/state.json"):
            assert time.monotonic() < deadline and process.poll() is None, "the build never started writing"
            time.sleep(0.002 if where == "local" else 0.02)
        time.sleep(rng.uniform(0.0, within))  # then somewhere in its writes, its commit or just after
        process.send_signal(signal.SIGKILL)
        process.wait()
        tally["kills"] += 1
        found = _snapshot(monkeypatch, root)
        if found == snapshots[current]:
            tally["previous_release"] += 1
        elif found == snapshots[target]:
            tally["new_release"] += 1  # killed after its commit
        else:
            tally["inconsistent"] += 1
            continue
        tally["leases_left"] += not json.loads(store.read_bytes("bdc-v0.1/_build/lease.json"))["released"]
        # The next build takes over the killed build's lease (at once on a local store, whose process is
        # gone; after the lease's 2 s without renewal on S3) and never fails for it.
        report = update_all_tables(source=sources[target], root=root, progress=False)
        stray = _stray_files(root)
        if _snapshot(monkeypatch, root) == snapshots[target] and not stray:
            tally["repaired"] += 1
        assert not stray, stray
        assert json.loads(store.read_bytes("bdc-v0.1/_build/lease.json"))["released"]
        if where == "local":  # the globs of the DuckDB how-to count the release once again
            assert _duckdb_rows(root) == (bdc.get_cache_registry()["qc"].rows, report.rows["asset_basics"])
        assert report.rows["qc"] == bdc.get_cache_registry()["qc"].rows
        current = target
    _record(f"killed_builds_{where}", tally)
    assert tally["inconsistent"] == 0
    assert tally["repaired"] == tally["kills"]


def test_a_reader_opened_before_a_commit_follows_the_registry_to_the_new_release(monkeypatch, tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text(Path(_source(tmp_path / "one.jsonl", 1, 6)).read_text())
    root = str(tmp_path / "store")
    update_all_tables(source=str(records), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    from biodata_cache import config
    from biodata_cache.readers import open_source_entry

    settings = config.resolve()
    old = {name: open_source_entry(name, settings) for name in ("asset_basics", "qc")}
    one_subject = open_source_entry("qc", settings, parameters={"subject_id": SUBJECT})
    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 6)).read_text())
    update_all_tables(source=str(records), root=root, progress=False)  # removes the files `old` names
    for name, source in old.items():
        assert source.read_arrow().equals(bdc.read_table(name))
    assert one_subject.read_arrow().equals(bdc.read_table("qc", parameters={"subject_id": SUBJECT}))


def _to_layout_before_build_ids(root: Path) -> None:
    """Turn a local store into the layout of earlier releases: fixed file names, no build ids, no
    manifests (and the catalog regenerated from that registry)."""
    from biodata_cache.publish import publish_catalogs

    folder = root / "bdc-v0.1"
    registry = json.loads((folder / "cache_registry.json").read_text())
    for table in registry["tables"]:
        if table["partitioned"]:
            for file in (folder / table["path"]).glob("*/data-*.pqt"):
                file.rename(file.with_name("data.pqt"))
        else:
            (folder / table["path"]).rename(folder / f"{table['name']}.pqt")
            table["path"] = f"{table['name']}.pqt"
        for key in ("build", "size", "manifest"):
            table.pop(key)
    (folder / "cache_registry.json").write_text(json.dumps(registry))
    for manifest in (folder / "_manifests").iterdir():
        manifest.unlink()
    publish_catalogs(Store(str(root)), "bdc-v0.1")


def test_a_release_written_before_build_ids_is_read_then_rebuilt_in_full_and_cleaned(monkeypatch, tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text(Path(_source(tmp_path / "one.jsonl", 1, 6)).read_text())
    root = tmp_path / "store"
    update_all_tables(source=str(records), root=str(root), progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    before = {name: _digest(call()) for name, call in CALLS.items()}
    _to_layout_before_build_ids(root)
    assert {name: _digest(call()) for name, call in CALLS.items()} == before  # read as before
    folder = root / "bdc-v0.1"

    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 6)).read_text())
    report = update_all_tables(source=str(records), root=str(root), progress=False)
    assert report.full  # its files cannot be read by name from the registry: rebuilt once
    assert not list(folder.rglob("data.pqt")) and not list(folder.glob("asset_basics.pqt"))
    assert not _stray_files(str(root))
    again = update_all_tables(source=str(records), root=str(root), progress=False)
    assert not again.full


def test_qc_of_a_raw_asset_is_of_one_release_when_a_publish_commits_between_its_reads(monkeypatch, tmp_path):
    from biodata_cache import readers

    one = Path(_source(tmp_path / "one.jsonl", 1, 6))
    moved = [json.loads(line) for line in one.read_text().splitlines()]
    for record in moved:  # release 2 corrects the subject of one raw asset: its rows change partition
        if record["name"] == "ecephys_s0003_asset0":
            record["subject"]["subject_id"] = "s0004"
            record["_last_modified"] = "2025-03-01T00:00:00Z"
    two = tmp_path / "two.jsonl"
    two.write_text("".join(json.dumps(r) + "\n" for r in moved))
    answers = []
    for i, source in enumerate((one, two)):
        update_all_tables(source=str(source), root=str(tmp_path / f"expected-{i}"), progress=False)
        monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path / f"expected-{i}"))
        answers.append(_digest(bdc.qc(raw_asset_name="ecephys_s0003_asset0")))
    root = str(tmp_path / "store")
    update_all_tables(source=str(one), root=root, progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    read_source = readers._read_source
    published = []

    def publish_after_the_index(source, name, settings):
        table = read_source(source, name, settings)
        if name == "qc_raw_assets" and not published:  # the nightly commits between the two reads
            published.append(update_all_tables(source=str(two), root=root, progress=False))
        return table

    monkeypatch.setattr(readers, "_read_source", publish_after_the_index)
    assert _digest(bdc.qc(raw_asset_name="ecephys_s0003_asset0")) == answers[1]
    assert published and answers[0] != answers[1]


def _store_of_release_one(monkeypatch, tmp_path) -> tuple[Path, Path]:
    """A local store of release 1 (6 subjects) and its JSONL source file; BIODATA_CACHE_ROOT names it."""
    records = tmp_path / "records.jsonl"
    records.write_text(Path(_source(tmp_path / "one.jsonl", 1, 6)).read_text())
    root = tmp_path / "store"
    update_all_tables(source=str(records), root=str(root), progress=False)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    return root, records


def _publish_release_two(records: Path, tmp_path) -> None:
    """Commit release 2 (8 subjects, so every table's row count changes) and remove release 1's files."""
    records.write_text(Path(_source(tmp_path / "two.jsonl", 2, 8)).read_text())
    update_all_tables(source=str(records), root=str(records.parent / "store"), progress=False)


def _entries(root: Path):
    """The intake entries a long-lived session holds: the version catalog, opened once."""
    import intake

    return intake.open_catalog(f"{root}/catalog.yaml")["bdc-v0.1"]


def test_readers_of_a_release_before_build_ids_follow_the_first_build_instead_of_reading_nothing(
    monkeypatch, tmp_path
):
    from biodata_cache import config
    from biodata_cache.readers import open_source_entry

    root, records = _store_of_release_one(monkeypatch, tmp_path)
    _to_layout_before_build_ids(root)
    settings = config.resolve()
    sources = {name: open_source_entry(name, settings) for name in ("qc", "asset_basics")}
    one_subject = open_source_entry("qc", settings, parameters={"subject_id": SUBJECT})
    cat = _entries(root)
    rows = bdc.get_cache_registry()["qc"].rows
    assert len(cat.qc.read()) == rows > 0
    # A folder with only a build-named file is a partition a build not yet committed is writing: the
    # release before build ids holds no rows there (skipped, while the registry names no build).
    pending = root / "bdc-v0.1" / "qc" / "subject_id=s9999"
    pending.mkdir()
    (pending / "data-20990101T000000Z-00000000.pqt").write_bytes(b"")
    assert len(cat.qc.read()) == len(sources["qc"].read()) == rows
    dask_qc = _entries(root).qc  # resolved before the commit, its graph made after it

    _publish_release_two(records, tmp_path)  # rebuilds in full and removes every data.pqt
    assert not list(root.rglob("data.pqt")) and not list(root.glob("bdc-v0.1/asset_basics.pqt"))
    for name, source in sources.items():
        assert source.read_arrow().equals(bdc.read_table(name)), name
    assert one_subject.read_arrow().equals(bdc.read_table("qc", parameters={"subject_id": SUBJECT}))
    new_qc = bdc.read_table("qc").to_pandas()
    assert _digest(cat.qc.read()) == _digest(new_qc)  # the long-lived catalog, not 0 rows
    assert _digest(cat.qc.read()) == _digest(new_qc)  # and again
    assert _digest(dask_qc.to_dask().compute()) == _digest(new_qc)


def test_to_dask_of_entries_resolved_before_a_commit_computes_the_new_release(monkeypatch, tmp_path):
    from biodata_cache import ReleaseChangedError, config
    from biodata_cache.readers import open_source_entry

    root, records = _store_of_release_one(monkeypatch, tmp_path)
    cat = _entries(root)
    entries = {"asset_basics": cat.asset_basics, "qc": cat.qc, "qc(subject)": cat.qc(subject_id=SUBJECT)}
    old = {label: entry.to_dask() for label, entry in entries.items()}
    for graph in old.values():
        graph.compute()  # qc's manifest is now in the process's manifest cache
    _publish_release_two(records, tmp_path)
    settings = config.resolve()
    expected = {
        "asset_basics": open_source_entry("asset_basics", settings).read(),
        "qc": open_source_entry("qc", settings).read(),
        "qc(subject)": open_source_entry("qc", settings, parameters={"subject_id": SUBJECT}).read(),
    }
    for graph in old.values():  # a graph of the removed files cannot mix releases
        with pytest.raises(ReleaseChangedError, match="call to_dask"):
            graph.compute()
    for label, entry in entries.items():  # ... and to_dask() again reads the new release
        assert _digest(entry.to_dask().compute()) == _digest(expected[label]), label
    assert _digest(cat.qc.to_dask().compute()) == _digest(expected["qc"])  # a fresh entry of the catalog
    assert len(expected["qc"]) == bdc.get_cache_registry()["qc"].rows


def test_a_source_that_followed_the_registry_describes_the_new_release(monkeypatch, tmp_path):
    root, records = _store_of_release_one(monkeypatch, tmp_path)
    cat = _entries(root)
    qc, asset_basics = cat.qc, cat.asset_basics
    before = qc.discover()["shape"][0]
    asset_basics.discover()
    _publish_release_two(records, tmp_path)
    registry = bdc.get_cache_registry()
    assert len(qc.read()) == registry["qc"].rows != before  # read() followed the registry
    assert qc.discover()["shape"][0] == registry["qc"].rows
    assert qc.metadata["partitions"] == registry["qc"].partitions
    assert qc.metadata["built_at"] == registry["qc"].built_at
    assert asset_basics.to_dask().npartitions == 1  # to_dask() followed it
    assert (
        asset_basics.metadata["rows"] == asset_basics.discover()["shape"][0] == registry["asset_basics"].rows
    )


def test_a_partition_file_of_another_value_is_an_error_not_that_subjects_rows(monkeypatch, tmp_path):
    from biodata_cache.store import DamagedObjectError

    root, _ = _store_of_release_one(monkeypatch, tmp_path)
    registry = bdc.get_cache_registry()
    manifest = json.loads((root / "bdc-v0.1" / registry["qc"].manifest).read_text())
    files = manifest["files"]
    asked, other = files[f"subject_id={SUBJECT}"], files["subject_id=s0004"]
    assert asked["build"] == other["build"]  # one build: only the recorded value tells them apart
    (root / "bdc-v0.1" / asked["path"]).write_bytes((root / "bdc-v0.1" / other["path"]).read_bytes())
    with pytest.raises(DamagedObjectError, match="s0004"):
        bdc.qc(SUBJECT)
    with pytest.raises(DamagedObjectError, match="s0004"):
        _entries(root).qc(subject_id=SUBJECT).read()
    with pytest.raises(DamagedObjectError, match="s0004"):
        _entries(root).qc.read()
