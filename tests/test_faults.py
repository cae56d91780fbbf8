"""Faults on the network: every answer is right or a clear error, and nothing hangs.

* The fault campaign publishes a small store on the moto server, reads every one-liner and catalog entry
  directly (the expected answers), then reads them again through a fault proxy (tests/fault_proxy.py)
  under each fault kind and classifies each outcome: *correct* (equal to the expected answer), *clear
  error* (a biodata-cache error of the class that fault calls for) or *wrong* (another answer, another
  error class, or a raw exception). The tally is printed (``pytest -s``) and written to
  ``tests/output/fault_campaign.json``.
* Publishing through the proxy with failing PUTs either publishes correctly or fails clearly, and never
  leaves a catalog that points at a missing file.
* An S3 endpoint or a DocDB that accepts connections and never answers fails with a clear error after a
  bounded number of attempts (the timeouts are shrunk here; the defaults are measured by hand and given in
  ``biodata_cache.store.S3_CONFIG`` and ``DocDBSource``).
"""

from __future__ import annotations

import collections
import json
import logging
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import BUCKET, GUARD_ENDPOINT
from fault_proxy import KINDS, Fault, FaultProxy, SilentServer
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache.errors import BiodataCacheError, SourceError, StoreAccessError, StoreUnavailableError
from biodata_cache.store import DamagedObjectError, Store

TALLY_FILE = Path(__file__).parent / "output" / "fault_campaign.json"

#: The error classes each fault kind may end in when it persists.
EXPECTED_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    "503": (StoreUnavailableError,),
    "500": (StoreUnavailableError,),
    "503-unavailable": (StoreUnavailableError,),
    "reset": (StoreUnavailableError,),
    "stall_headers": (StoreUnavailableError,),
    "403": (StoreAccessError,),
    # A listing cut short is a 200 whose XML does not parse: botocore itself turns it into a 500 and
    # retries it, so a listing that keeps arriving short ends as a server error.
    "short": (DamagedObjectError, StoreUnavailableError),
    "truncated": (DamagedObjectError, StoreUnavailableError),
    "stall_body": (DamagedObjectError, StoreUnavailableError),
}

#: Few attempts keep persistent faults quick (botocore backs off up to 1 s before its one retry);
#: stalls need a short read timeout.
FAST = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 2}}
STALL = {"connect_timeout": 1, "read_timeout": 0.3, "retries": {"total_max_attempts": 2}}

TABLE_NAMES = [
    "unique_project_names",
    "unique_subject_ids",
    "unique_genotypes",
    "asset_basics",
    "source_data",
    "qc",
    "qc_status",
    "qc_status_long",
    "metadata_core",
    "time_to_qc",
]


def _quiet(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Shell command not executed")
        return call()


def _dask_reader(name: str) -> Callable[[dict], Any]:
    return lambda o: _quiet(lambda: getattr(bdc.open_catalog(storage_options=o), name).to_dask().compute())


READERS: dict[str, Callable[[dict], Any]] = {
    "unique_project_names": lambda o: bdc.unique_project_names(storage_options=o),
    "unique_subject_ids": lambda o: bdc.unique_subject_ids(storage_options=o),
    "unique_genotypes": lambda o: bdc.unique_genotypes(storage_options=o),
    "asset_basics": lambda o: bdc.asset_basics(storage_options=o),
    "asset_basics filtered": lambda o: bdc.asset_basics(
        subject_id="692478", modality="pophys", columns=["name", "data_level"], storage_options=o
    ),
    "source_data": lambda o: bdc.source_data(storage_options=o),
    "qc": lambda o: bdc.qc(storage_options=o),
    "qc one subject": lambda o: bdc.qc("692478", storage_options=o),
    "qc_status": lambda o: bdc.qc_status(storage_options=o),
    "qc_status_long": lambda o: bdc.qc_status_long(storage_options=o),
    "metadata_core": lambda o: bdc.metadata_core(storage_options=o),
    "time_to_qc": lambda o: bdc.time_to_qc(storage_options=o),
    "raw_to_derived": lambda o: bdc.raw_to_derived("ophys_692478_raw", storage_options=o),
    "get_cache_registry": lambda o: bdc.get_cache_registry(storage_options=o).to_json(),
    "get_cache_versions": lambda o: list(bdc.get_cache_versions(storage_options=o)),
    "open_catalog().qc.read()": lambda o: _quiet(lambda: bdc.open_catalog(storage_options=o).qc.read()),
    "open_catalog().asset_basics.discover()": lambda o: _quiet(
        lambda: bdc.open_catalog(storage_options=o).asset_basics.discover()
    ),
    **{f"to_dask {name}": _dask_reader(name) for name in TABLE_NAMES},
}

#: Readers of the persistent rounds: one per distinct read path (catalog, table file, LIST and
#: partitions, one partition, registry, versions, intake catalog, footer, Dask).
PERSISTENT_READERS = [
    "unique_project_names",
    "asset_basics filtered",
    "qc",
    "qc one subject",
    "get_cache_registry",
    "get_cache_versions",
    "open_catalog().qc.read()",
    "open_catalog().asset_basics.discover()",
    "to_dask qc",
    "to_dask asset_basics",
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        if not (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)):
            return False
        left = a.sort_values(list(a.columns), ignore_index=True, key=lambda s: s.astype(str))
        right = b.sort_values(list(b.columns), ignore_index=True, key=lambda s: s.astype(str))
        try:
            pd.testing.assert_frame_equal(left, right)
        except AssertionError:
            return False
        return True
    return a == b


def _outcome(kind: str, call: Callable[[], Any], expected: Any) -> tuple[str, str]:
    try:
        value = call()
    except BiodataCacheError as error:
        if isinstance(error, EXPECTED_ERRORS[kind]):
            return "clear error", type(error).__name__
        return "wrong", f"{type(error).__name__}: {error}"
    except Exception as error:
        return "wrong", f"raw {type(error).__module__}.{type(error).__name__}: {error}"
    if _same(value, expected):
        return "correct", ""
    return "wrong", f"a different answer: {str(value)[:300]}"


def _options(endpoint: str, config: dict) -> dict:
    """storage_options that reach the store through ``endpoint`` (botocore's own endpoint is the guard)."""
    return {"endpoint_url": endpoint, "config_kwargs": dict(config)}


def _run_kind(kind: str, upstream: str, expected: dict[str, Any], seed: int) -> dict[str, Any]:
    """Every reader through a proxy of its own that injects ``kind``, transiently then persistently."""
    counts: collections.Counter = collections.Counter()
    wrong: list[str] = []
    started = time.monotonic()
    with FaultProxy(upstream) as proxy:
        options = _options(proxy.url, STALL if kind.startswith("stall") else FAST)
        rounds = [
            # Transient: a quarter of all requests fail; retries should mostly hide it.
            ([Fault(kind, probability=0.25)], list(READERS)),
            # Persistent on the data (parquet objects and listings): the driver's error paths.
            ([Fault(kind, pattern=r"\.pqt|list-type=2")], PERSISTENT_READERS),
            # Persistent on everything: the first request of each reader.
            ([Fault(kind)], ["unique_project_names", "get_cache_versions", "open_catalog().qc.read()"]),
        ]
        for faults, names in rounds:
            for name in names:
                seed += 1
                proxy.schedule(faults, seed=seed)
                result, detail = _outcome(kind, lambda n=name: READERS[n](options), expected[name])
                counts["tried"] += 1
                counts[result] += 1
                if result == "wrong":
                    wrong.append(f"{kind} / {name} / {faults[0]}: {detail}")
        injected, requests = proxy.injected[kind], len(proxy.log)
    return {
        **{key: counts[key] for key in ("tried", "correct", "clear error", "wrong")},
        "requests": requests,
        "faults injected": injected,
        "seconds": round(time.monotonic() - started, 1),
        "wrong outcomes": wrong,
    }


@pytest.fixture
def published(s3_root, s3_endpoint, monkeypatch) -> str:
    """The fixture store on moto (its endpoint is returned), with botocore's own endpoint the guard.

    Only storage_options lead to the server: a read path that loses them fails loudly.
    """
    publish_fixture(s3_root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    monkeypatch.setenv("AWS_ENDPOINT_URL", GUARD_ENDPOINT)
    return s3_endpoint


def _expected(upstream: str, names: list[str]) -> dict[str, Any]:
    """The answers of these readers read straight from the server (for Dask: the entry's ``read()``)."""
    options = {"endpoint_url": upstream}
    expected = {}
    for name in names:
        if name.startswith("to_dask "):
            catalog = _quiet(lambda: bdc.open_catalog(storage_options=options))
            expected[name] = _quiet(getattr(catalog, name.split(" ", 1)[1]).read)
        else:
            expected[name] = READERS[name](options)
    return expected


def test_to_dask_of_every_entry_computes_what_read_returns(published):
    names = [f"to_dask {table}" for table in TABLE_NAMES]
    expected = _expected(published, names)
    for name in names:
        assert _same(READERS[name]({"endpoint_url": published}), expected[name]), name


def test_to_dask_in_concurrent_threads_computes_what_read_returns(tmp_path, monkeypatch):
    publish_fixture(str(tmp_path))
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    catalog = _quiet(bdc.open_catalog)
    expected = {name: _quiet(getattr(catalog, name).read) for name in TABLE_NAMES}

    def same_as_read(name: str) -> bool:
        return _same(_quiet(getattr(catalog, name).to_dask().compute), expected[name])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(same_as_read, TABLE_NAMES * 12))
    assert all(results), f"{results.count(False)} of {len(results)} differ from read()"


@pytest.fixture
def quiet_logs(caplog):
    caplog.set_level(logging.ERROR)  # the retries log warnings by the hundred
    caplog.set_level(logging.ERROR, logger="werkzeug")


def test_every_reader_is_right_or_a_clear_error_under_every_fault_kind(published, quiet_logs):
    upstream = published
    expected = _expected(upstream, list(READERS))
    # One thread and one proxy per fault kind: the waits (timeouts, backoff) overlap.
    with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        futures = {
            kind: pool.submit(_run_kind, kind, upstream, expected, 1000 * i) for i, kind in enumerate(KINDS)
        }
        report = {kind: future.result() for kind, future in futures.items()}
    wrong = [line for row in report.values() for line in row["wrong outcomes"]]
    TALLY_FILE.parent.mkdir(exist_ok=True)
    TALLY_FILE.write_text(json.dumps(report, indent=2) + "\n")
    print("\nfault campaign: tried / correct / clear error / wrong (requests, faults injected, seconds)")
    for kind, row in report.items():
        print(
            f"  {kind:14} {row['tried']:4} {row['correct']:4} {row['clear error']:4} {row['wrong']:4}"
            f"   ({row['requests']} requests, {row['faults injected']} faults, {row['seconds']} s)"
        )
    assert not wrong, f"{len(wrong)} wrong outcomes:\n" + "\n".join(wrong[:40])
    for kind, row in report.items():
        assert row["faults injected"] > 0 and row["correct"] > 0, f"{kind}: the campaign did not exercise it"


# -- single faults, one read path each ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "reader"),
    [
        (r"catalog\.yaml", "unique_project_names"),
        (r"cache_registry\.json", "get_cache_registry"),
        (r"asset_basics-[^/?]*\.pqt", "asset_basics filtered"),
        (r"subject_id=828418", "qc"),
    ],
)
def test_a_body_cut_short_once_is_fetched_again_and_read_right(published, quiet_logs, pattern, reader):
    upstream = published
    expected = _expected(upstream, [reader])[reader]
    with FaultProxy(upstream, [Fault("short", method="GET", pattern=pattern, times=1)]) as proxy:
        assert _same(READERS[reader](_options(proxy.url, FAST)), expected)
        assert proxy.injected == {"short": 1}


@pytest.mark.parametrize(
    ("kind", "error"),
    [("403", StoreAccessError), ("503", StoreUnavailableError), ("short", DamagedObjectError)],
)
def test_to_dask_of_a_table_file_raises_the_error_of_the_fault_not_a_raw_one(
    published, quiet_logs, kind, error
):
    upstream = published
    with FaultProxy(upstream, [Fault(kind, method="GET", pattern=r"asset_basics-[^/?]*\.pqt")]) as proxy:
        catalog = _quiet(lambda: bdc.open_catalog(storage_options=_options(proxy.url, FAST)))
        with pytest.raises(error):  # from to_dask() (the footer) or from compute() (the data)
            catalog.asset_basics.to_dask().compute()


def test_discover_of_a_partition_under_a_server_error_is_an_error_not_an_empty_partition(
    published, quiet_logs
):
    upstream = published
    with FaultProxy(upstream, [Fault("503", pattern=r"subject_id=692478")]) as proxy:
        catalog = _quiet(lambda: bdc.open_catalog(storage_options=_options(proxy.url, FAST)))
        entry = _quiet(lambda: catalog.qc(subject_id="692478"))
        with pytest.raises(StoreUnavailableError):
            entry.discover()


# -- S3 error responses: retried by botocore, then translated ----------------------------------------
#
# The fault campaign once found SlowDown / InternalError surfacing as a generic StoreError (the store's
# retry markers were strings that never matched what s3fs raised), and FlexibleChecksumError and errors
# on the intake / Dask path coming out raw. Retries are botocore's ("standard" mode, S3_CONFIG), the
# translation looks at exception classes and status codes (store.classify).

SERVER_ERRORS = {"503": "SlowDown", "500": "InternalError", "503-unavailable": "ServiceUnavailable"}
#: One attempt per request more than FAST, so a fault hitting only the first attempt is hidden.
RETRYING = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 3}}


def _intake_catalog(options: dict) -> Any:
    """The version catalog opened through intake itself (its first file read by intake, not by us)."""
    import intake

    return _quiet(
        lambda: intake.open_catalog(f"s3://{BUCKET}/data-asset-cache/catalog.yaml", storage_options=options)
    )["bdc-v0.1"]


#: Read paths, each with the pattern of the objects it reads that the fault hits.
FAULTED_READS: dict[str, tuple[str, Callable[[dict], Any]]] = {
    "one-liner": (r"asset_basics-[^/?]*\.pqt", lambda o: bdc.asset_basics(storage_options=o)),
    "qc one subject": (r"subject_id=692478", lambda o: bdc.qc("692478", storage_options=o)),
    "qc whole table": (r"/qc/subject_id=", lambda o: bdc.qc(storage_options=o)),
    "registry": (r"cache_registry\.json", lambda o: bdc.get_cache_registry(storage_options=o).to_json()),
    "open_catalog().asset_basics.read()": (
        r"asset_basics-[^/?]*\.pqt",
        lambda o: _quiet(lambda: bdc.open_catalog(storage_options=o).asset_basics.read()),
    ),
    "open_catalog().qc.to_dask().compute()": (
        r"/qc/subject_id=",
        lambda o: _quiet(lambda: bdc.open_catalog(storage_options=o).qc.to_dask().compute()),
    ),
    "intake version catalog": (r"bdc-v0\.1/catalog\.yaml", lambda o: list(_intake_catalog(o))),
    "intake asset_basics.read()": (
        r"asset_basics-[^/?]*\.pqt",
        lambda o: _quiet(_intake_catalog(o).asset_basics.read),
    ),
    "intake qc.to_dask().compute()": (
        r"/qc/subject_id=",
        lambda o: _quiet(lambda: _intake_catalog(o).qc.to_dask().compute()),
    ),
}


def _paired(names: list[str]) -> list[tuple[str, str]]:
    """Each name with one of the server errors, in turn: every path and every kind, not the product."""
    kinds = list(SERVER_ERRORS)
    return [(kinds[i % len(kinds)], name) for i, name in enumerate(names)]


def _faulted_targets(proxy: FaultProxy) -> collections.Counter:
    return collections.Counter(target for _, target, kind in proxy.log if kind)


@pytest.mark.parametrize(("kind", "path"), _paired(list(FAULTED_READS)))
def test_a_server_error_once_is_retried_by_botocore_and_read_right(published, quiet_logs, kind, path):
    pattern, read = FAULTED_READS[path]
    expected = read({"endpoint_url": published})
    with FaultProxy(published, [Fault(kind, method="GET", pattern=pattern, times=1)]) as proxy:
        assert _same(read(_options(proxy.url, RETRYING)), expected)
        assert proxy.injected == {kind: 1}
        (target,) = _faulted_targets(proxy)
        assert [t for _, t, _ in proxy.log].count(target) >= 2  # asked again, and answered


@pytest.mark.parametrize(("kind", "path"), _paired(list(FAULTED_READS)))
def test_a_persistent_server_error_is_store_unavailable_after_botocores_attempts(
    published, quiet_logs, kind, path
):
    pattern, read = FAULTED_READS[path]
    with FaultProxy(published, [Fault(kind, pattern=pattern)]) as proxy:
        with pytest.raises(StoreUnavailableError) as caught:
            read(_options(proxy.url, RETRYING))
        # botocore's attempts per object and nothing on top (no StoreError, no raw botocore error).
        # (Concurrent reads of partitions stop at the first that fails: the others may be asked fewer times.)
        attempts = _faulted_targets(proxy).values()
        assert max(attempts) == RETRYING["retries"]["total_max_attempts"] >= max(attempts)
    causes = _causes(caught.value)
    assert any(getattr(c, "response", {}).get("Error", {}).get("Code") == SERVER_ERRORS[kind] for c in causes)


STORE_CALLS: dict[str, Callable[[dict], Any]] = {
    "read": lambda o: Store(f"s3://{BUCKET}/data-asset-cache", o).read_bytes("catalog.yaml"),
    "exists": lambda o: Store(f"s3://{BUCKET}/data-asset-cache", o).exists("catalog.yaml"),
    "list": lambda o: Store(f"s3://{BUCKET}/data-asset-cache", o).list_names("bdc-v0.1/qc"),
    "write": lambda o: Store(f"s3://{BUCKET}/x", o).write_bytes("a.json", b"{}"),
    "conditional update": lambda o: Store(f"s3://{BUCKET}/x", o).update_bytes(
        "a.json", lambda current: b"{}"
    ),
}


@pytest.mark.parametrize(("kind", "call"), _paired(list(STORE_CALLS)))
def test_store_calls_under_a_persistent_server_error_are_store_unavailable(published, quiet_logs, kind, call):
    with FaultProxy(published, [Fault(kind)]) as proxy:
        with pytest.raises(StoreUnavailableError):
            STORE_CALLS[call](_options(proxy.url, RETRYING))
        assert len(proxy.log) == RETRYING["retries"]["total_max_attempts"]  # botocore's, one request


@pytest.mark.parametrize("path", list(FAULTED_READS))
def test_a_body_failing_its_checksum_is_fetched_again_then_damaged_not_raw(published, quiet_logs, path):
    # "short": half the body with a matching Content-Length; only botocore's CRC32 check can tell.
    pattern, read = FAULTED_READS[path]
    expected = read({"endpoint_url": published})
    with FaultProxy(published, [Fault("short", method="GET", pattern=pattern, times=1)]) as proxy:
        assert _same(read(_options(proxy.url, RETRYING)), expected)
        assert proxy.injected == {"short": 1}
    with (
        FaultProxy(published, [Fault("short", method="GET", pattern=pattern)]) as proxy,
        pytest.raises(DamagedObjectError) as caught,
    ):
        read(_options(proxy.url, RETRYING))
    assert "FlexibleChecksumError" in {type(c).__name__ for c in _causes(caught.value)}


def _causes(error: BaseException) -> list[BaseException]:
    chain, current = [], error
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def test_error_classes_not_message_text_decide_the_translation():
    from botocore.exceptions import ClientError, FlexibleChecksumError

    from biodata_cache.store import StoreError, classify, translate_errors

    for code, status in [
        ("SlowDown", 503),
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("SlowDown", None),
    ]:
        response = {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        assert classify(OSError(5, "x")) == "other"
        wrapped = OSError(5, "message text s3fs chose")
        wrapped.__cause__ = ClientError(response, "GetObject")
        assert classify(wrapped) == "unavailable", code
        with pytest.raises(StoreUnavailableError), translate_errors("s3://b/k"):
            raise wrapped
    checksum = FlexibleChecksumError(error_msg="Expected checksum abc did not match calculated checksum def")
    assert classify(checksum) == "damaged"
    with pytest.raises(DamagedObjectError) as caught, translate_errors("s3://b/k"):
        raise checksum
    assert caught.value.__cause__ is checksum and type(caught.value) is not StoreError


# -- publishing through faults ------------------------------------------------------------------------


def _dangling(store: Store) -> list[str]:
    """Objects that the store's catalogs and registries name but that do not exist (should be none)."""
    missing = []
    catalogs = ["catalog.yaml"] + [f"{v}/catalog.yaml" for v in store.list_names("") if v.startswith("bdc-v")]
    for catalog in catalogs:
        if not store.exists(catalog):
            continue
        folder = catalog.rsplit("/", 1)[0] if "/" in catalog else ""
        for entry in yaml.safe_load(store.read_bytes(catalog))["sources"].values():
            if (entry.get("metadata") or {}).get("partitions") == 0:
                continue  # a partitioned table without rows has no files (a folder is no object on S3)
            target = entry["args"].get("urlpath") or entry["args"]["path"]
            target = target.replace("{{ CATALOG_DIR }}", folder).lstrip("/")
            if not store.exists(target) and not store.list_names(target):
                missing.append(f"{catalog} -> {target}")
        registry = f"{folder}/cache_registry.json"
        if folder and store.exists(registry):
            for table in store.read_json(registry)["tables"]:
                if table.get("partitioned") and table.get("partitions") == 0:
                    continue
                path = f"{folder}/{table['path']}"
                if not store.exists(path) and not store.list_names(path):
                    missing.append(f"{registry} -> {path}")
    return missing


PUBLISHED_READERS = ["unique_subject_ids", "asset_basics", "qc", "qc one subject", "source_data"]


def test_publishing_through_failing_puts_publishes_correctly_or_fails_clearly(
    s3_endpoint, moto_endpoint, quiet_logs, monkeypatch
):
    publish_fixture(f"s3://{BUCKET}/clean")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", f"s3://{BUCKET}/clean")
    expected = {name: READERS[name]({}) for name in PUBLISHED_READERS}
    faults = [Fault("503", method="PUT", probability=0.25), Fault("reset", method="PUT", probability=0.15)]
    tally: collections.Counter = collections.Counter()
    problems = []
    for trial in range(8):
        root = f"s3://{BUCKET}/publish-{trial}"
        with FaultProxy(moto_endpoint, faults, seed=trial) as proxy:
            try:
                publish_fixture(root, storage_options=_options(proxy.url, FAST))
                outcome = "published"
            except StoreUnavailableError:
                outcome = "clear error"
            except Exception as error:
                outcome = "wrong"
                problems.append(f"trial {trial}: raw {type(error).__name__}: {error}")
            tally["faults injected"] += sum(proxy.injected.values())
        tally["tried"] += 1
        # Read back directly from the server.
        dangling = _dangling(Store(root))
        if dangling:
            outcome = "wrong"
            problems.append(f"trial {trial} ({outcome}) left references to missing objects: {dangling}")
        if outcome == "published":
            monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
            for name in PUBLISHED_READERS:
                if not _same(READERS[name]({}), expected[name]):
                    outcome = "wrong"
                    problems.append(f"trial {trial}: {name} differs from a publish without faults")
        tally[outcome] += 1
    print(f"\npublish through failing PUTs: {dict(tally)}")
    assert not problems, "\n".join(problems)
    assert tally["published"] and tally["clear error"], f"both outcomes should occur in 8 trials: {tally}"


# -- endpoints that accept connections and never answer -----------------------------------------------


@pytest.fixture
def silent():
    with SilentServer() as server:
        yield server


QUICK = {"connect_timeout": 0.5, "read_timeout": 0.5, "retries": {"total_max_attempts": 2}}


@pytest.mark.parametrize(
    "call",
    [
        lambda o: bdc.unique_project_names(storage_options=o),
        lambda o: bdc.qc("692478", storage_options=o),
        lambda o: bdc.get_cache_versions(storage_options=o),
        lambda o: bdc.get_cache_registry(storage_options=o),
        lambda o: bdc.open_catalog(storage_options=o),
        lambda o: Store(f"s3://{BUCKET}/x", o).write_bytes("a.json", b"{}"),
        lambda o: Store(f"s3://{BUCKET}/x", o).update_bytes("a.json", lambda current: b"{}"),
        lambda o: Store(f"s3://{BUCKET}/x", o).exists("a.json"),
        lambda o: Store(f"s3://{BUCKET}/x", o).list_names("bdc-v0.1/qc"),
    ],
    ids=["reader", "qc", "versions", "registry", "catalog", "write", "update", "exists", "list"],
)
def test_silent_s3_endpoint_is_store_unavailable_naming_it_after_botocores_attempts(
    silent, monkeypatch, call
):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", f"s3://{BUCKET}/data-asset-cache")
    with pytest.raises(StoreUnavailableError) as caught:
        call(_options(silent.url, QUICK))
    # botocore's attempts and nothing on top (s3fs's own retry loops multiplied them by 4).
    assert silent.connections == 2
    assert f"endpoint {silent.url}" in str(caught.value) and "ReadTimeoutError" in str(caught.value)


def test_silent_s3_endpoint_gets_the_default_number_of_attempts(silent, monkeypatch):
    from biodata_cache.store import S3_CONFIG

    monkeypatch.setenv("BIODATA_CACHE_ROOT", f"s3://{BUCKET}/data-asset-cache")
    timeouts = {"connect_timeout": 0.3, "read_timeout": 0.3}  # the default retries, shorter waits
    with pytest.raises(StoreUnavailableError) as caught:
        bdc.unique_project_names(storage_options=_options(silent.url, timeouts))
    assert silent.connections == S3_CONFIG["retries"]["total_max_attempts"]
    assert f"endpoint {silent.url}" in str(caught.value)


def test_without_credentials_a_silent_metadata_service_is_given_up_on_and_reads_go_anonymous(
    silent, monkeypatch, tmp_path
):
    # botocore's credential chain asks the instance metadata service last (1 s timeout, 1 attempt).
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent.url)
    store = Store(f"s3://{BUCKET}/data-asset-cache")
    store.fs  # noqa: B018  (creates the filesystem)
    assert store.storage_options["anon"] is True
    assert silent.connections >= 1  # it was asked, and gave up


def test_silent_docdb_is_a_source_error_naming_the_host_within_its_budget(silent):
    from biodata_cache.sources import DocDBSource

    source = DocDBSource(silent.host, timeout=(0.2, 0.2), attempts=100, budget=1.0)
    with pytest.raises(SourceError, match=rf"DocDB at {silent.host} failed after \d attempt"):
        list(source.records())
    assert 1 <= silent.connections < 100
