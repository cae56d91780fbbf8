"""Fuzzing the public API, the sources and the store files: every input gives the right answer or a clear
:class:`~biodata_cache.BiodataCacheError`, never another exception and never a silently wrong value.

The corpus is deterministic: hand-written cases (records with wrong-typed fields, bad JSONL lines and bytes,
odd versions, roots and storage_options, damaged store files, odd reader arguments) plus seeded random
mutations of the real records in ``tests/data/aind_records/`` (type swaps, deletions, truncations). Each case
ends in one of four outcomes:

* ``correct``: the answer the documented contract gives;
* ``clear error``: a ``BiodataCacheError`` whose message names the object (for a record in a build: the
  record is skipped, logged with its file:line and the field, and counted in the build report);
* ``wrong``: any other answer (or an error where an answer is documented);
* ``raw``: an exception that is not a ``BiodataCacheError``.

The last test prints the tally and asserts ``wrong == raw == 0``. A known gap outside this project's reach
would be a ``Case(xfail=...)``, run as ``xfail(strict=True)`` and counted apart (there is none today: the
empty and truncated parquet files that needed one read as clear errors since the read path was reworked).

Record cases are judged against an oracle written here from the documented record contract (see
:mod:`biodata_cache.rows`): a record whose fields all have a documented shape is read, and its rows must equal
what the row functions give for it; any other record must be skipped with a reason naming the field.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache import config
from biodata_cache.errors import BiodataCacheError
from biodata_cache.publish import rows_to_arrow
from biodata_cache.rows import RECORD_FIELDS
from biodata_cache.tables import TABLES, TABLES_BY_NAME

RECORDS = Path(__file__).parent / "data" / "aind_records"
SEED = 8  # the issue number: the random mutations are the same on every run
MUTATIONS_PER_RECORD = 40
OUTCOMES = ("correct", "clear error", "wrong", "raw")

#: case id -> (outcome, detail); filled by the tests, summarised by the last one.
TALLY: dict[str, tuple[str, str]] = {}


#: v1 and hybrid records mutated too, so the v1 paths (session, evaluations, external_links) are fuzzed.
OTHER_SHAPES = ("v1_behavior_derived_qc", "v1_0219_smartspim_acq", "v1mix_fib_derived_qc_dd2")


def real_records() -> dict[str, dict]:
    paths = [*sorted(RECORDS.glob("*.json")), *(RECORDS / "real" / f"{stem}.json" for stem in OTHER_SHAPES)]
    return {p.stem: json.loads(p.read_text()) for p in paths}


# -- the record oracle ----------------------------------------------------------------------------------
#
# Which fields the tables read, and the kind of value each may hold, is declared once in
# biodata_cache.rows.RECORD_FIELDS ("[]" stands for any item of a list). How a value of each kind is judged
# is written here independently of the implementation (violation() below).

SCHEMA: dict[str, str] = RECORD_FIELDS


def test_the_record_contract_covers_every_field_a_table_reads():
    # metadata_core projects "<core>.object_type" only to learn whether each core object is present.
    declared = {f for table in TABLES if table.name != "metadata_core" for f in table.fields}
    contract = {p.replace("[]", "") for p in SCHEMA}
    assert declared <= contract, sorted(declared - contract)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _time_ok(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return value is None or isinstance(value, str)
    try:
        dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def violation(value: Any, pattern: str, where: str) -> str | None:
    """The path of the first value that breaks the contract, or None when the value may be read."""
    kind = SCHEMA.get(pattern, "any")
    if value is None or kind == "any":
        return None
    if kind in ("id", "text"):
        return None if isinstance(value, str) or _is_int(value) else where
    if kind == "name":
        return None if isinstance(value, str) else where
    if kind == "time":
        return None if _time_ok(value) else where
    if kind == "year":  # a number or 4 digits, from 1800
        digits = str(value) if _is_int(value) or isinstance(value, str) else ""
        digits = digits.strip()
        return None if len(digits) == 4 and digits.isdigit() and digits >= "1800" else where
    if kind == "textmap":
        if not isinstance(value, dict):
            return where
        for key, item in value.items():
            if item is not None and not (isinstance(item, str) or _is_int(item)):
                return f"{where}.{key}"
        return None
    if kind == "object":
        return _object_fields(value, pattern, where)
    if kind in ("modality", "person"):
        return None if isinstance(value, str) else _object_fields(value, pattern, where)
    if kind == "links" and isinstance(value, dict):  # {"Code Ocean": [...]}, or a list of such objects
        return _object_fields(value, pattern, where)
    if kind == "metricset" and isinstance(value, dict):  # aind-data-schema 1.0.0: metric values by name
        return None
    # lists: objects, steps, texts, modalities, persons
    if isinstance(value, list):
        for index, item in enumerate(value):
            if kind == "links" and isinstance(item, str):  # a plain URL: not read
                continue
            if kind == "steps" and isinstance(item, list):  # a nested group of processing steps
                for inner, step in enumerate(item):
                    found = violation(step, f"{pattern}[]", f"{where}[{index}][{inner}]")
                    if found:
                        return found
                continue
            found = violation(item, f"{pattern}[]", f"{where}[{index}]")
            if found:
                return found
        return None
    if kind in ("texts", "persons") and isinstance(value, str):
        return None
    if kind == "persons" and isinstance(value, dict):  # one person object alone
        return violation(value, f"{pattern}[]", where)
    if kind == "modalities" and isinstance(value, (str, dict)):
        return violation(value, f"{pattern}[]", where)
    return where


def _object_fields(value: Any, pattern: str, where: str) -> str | None:
    if not isinstance(value, dict):
        return where or "record"
    for key, item in value.items():
        child = f"{pattern}.{key}" if pattern else str(key)
        if child in SCHEMA:
            found = violation(item, child, f"{where}.{key}" if where else str(key))
            if found:
                return found
    return None


def record_violation(record: Any) -> str | None:
    """Why the contract says a record must be skipped (a path or 'record'), or None when it is read."""
    if not isinstance(record, dict):
        return "record"
    found = _object_fields(record, "", "")
    if found:
        return found
    identity = record.get("_id")
    if identity in (None, "") and not (isinstance(record.get("name"), str) and record["name"].strip()):
        return "_id"
    return None


ROW_TABLES = [t for t in TABLES if t.rows is not None]
KEYS = {
    "asset_basics": "_id",
    "metadata_core": "_id",
    "source_data": "name",
    "time_to_qc": "name",
    "qc": "asset_name",
    "qc_status_long": "asset_name",
    "swdb_2025_bci": "_id",
    "swdb_2025_v1dd": "_id",
    "qc_tag_status": "asset_name",
    "platform_qc": "asset_name",
    "platform_fib": "asset_name",
    "platform_smartspim_fiber_ccf": "name",
    "platform_smartspim_qc_metrics": "name",
}


#: qc columns set by the choice along a lineage (tests/test_qc_lineage.py), not by reading one record.
LINEAGE_COLUMNS = ("raw_asset_name", "downstream_asset_names")


def canonical(table_name: str, values: list[dict]) -> list[str]:
    """Rows as sorted canonical JSON, after the arrow round trip the build applies."""
    normal = rows_to_arrow(TABLES_BY_NAME[table_name], values).to_pylist()
    if table_name == "qc":
        normal = [{k: v for k, v in row.items() if k not in LINEAGE_COLUMNS} for row in normal]
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in normal)


def qc_metric_rows(root: str) -> list[dict]:
    """Every metric row the build read, whether the qc table kept it or left it out along a lineage (the
    left-out rows are in ``_build/qc_dropped``), once each."""
    import pyarrow.parquet as pq

    from biodata_cache.lineage import all_metric_rows
    from biodata_cache.partitions import value_of_file
    from biodata_cache.sync import QC_DROPPED

    table = TABLES_BY_NAME["qc"]
    kept = bdc.read_table("qc").select(table.column_names)
    dropped = []
    for path in sorted(Path(root, config.version_folder(), QC_DROPPED).glob("*.pqt")):
        part = pq.read_table(path)
        _, subject = value_of_file(part.schema, "subject_id")
        part = part.append_column("subject_id", pa.array([subject] * part.num_rows, pa.string()))
        dropped.append(part.select(table.column_names).cast(table.arrow_schema()))
    return all_metric_rows(kept.cast(table.arrow_schema()), dropped).to_pylist()


def expected_rows(record: dict) -> dict[str, list[str]]:
    return {t.name: canonical(t.name, t.rows(record)) for t in ROW_TABLES}


# -- cases -------------------------------------------------------------------------------------------------


@dataclass
class RecordCase:
    """A record in the batch build: read (rows as the row functions give) or skipped with a reason."""

    id: str
    record: Any
    skip: str | None = None  # the path the skip reason must name
    check: Callable[[dict[str, list[dict]]], bool] | None = None  # extra check of the rows read
    line: int = 0
    key_id: Any = None
    key_name: Any = None
    _expected: dict[str, list[str]] | None = None

    @property
    def expected(self) -> dict[str, list[str]]:
        """The rows the row functions give for the record (computed once)."""
        if self._expected is None:
            self._expected = expected_rows(self.record)
        return self._expected


@dataclass
class Case:
    """A call and its documented outcome.

    ``check`` judges an answer; ``error`` is a pattern a BiodataCacheError's message must match. With only
    ``check`` an answer is required, with only ``error`` an error is required, with both either is right
    (e.g. a truncated catalog whose entry survived intact may still be read).
    """

    id: str
    run: Callable[[Any], Any]
    check: Callable[[Any], bool] | None = None
    error: str | None = None
    xfail: str | None = None


def _set(record: dict, path: list, value: Any) -> None:
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _delete(record: dict, path: list) -> None:
    target = record
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]


def _get(record: Any, path: list) -> Any:
    for key in path:
        record = record[key]
    return record


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found += _paths(item, (*prefix, index))
    return found


def _pattern(path: tuple) -> str:
    text = ""
    for key in path:
        text += "[]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _where(path: tuple) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


SWAPS: list[Any] = [None, True, 7, 1.5, "garbage", "", [], ["x"], [7], {}, {"x": 1}]


def random_mutations() -> list[tuple[str, str, dict]]:
    """(record stem, description, mutated record): seeded type swaps, deletions and truncations."""
    rng = random.Random(SEED)
    mutations = []
    for stem, original in real_records().items():
        paths = [p for p in _paths(original) if p[0] not in ("_id", "name")]
        read = [p for p in paths if _pattern(p) in SCHEMA]
        for _ in range(MUTATIONS_PER_RECORD):
            path = rng.choice(read if rng.random() < 0.6 else paths)
            record = copy.deepcopy(original)
            value = _get(record, list(path))
            operation = rng.choice(["swap", "swap", "delete", "truncate"])
            if operation == "truncate" and isinstance(value, (str, list)) and value:
                cut = rng.randrange(len(value))
                _set(record, list(path), value[:cut])
                description = f"truncate {_where(path)} to {cut}"
            elif operation == "delete":
                _delete(record, list(path))
                description = f"delete {_where(path)}"
            else:
                swap = rng.choice(SWAPS)
                _set(record, list(path), copy.deepcopy(swap))
                description = f"swap {_where(path)}={json.dumps(swap)}"
            mutations.append((stem, description, record))
    return mutations


def _asset_basics(check: Callable[[dict], bool]) -> Callable[[dict[str, list[dict]]], bool]:
    return lambda tables: len(tables["asset_basics"]) == 1 and check(tables["asset_basics"][0])


def hand_record_cases() -> list[tuple[str, str, Callable[[dict], Any], str | None, Any]]:
    """(id, record stem, mutation, path the skip must name or None, extra check of the rows)."""
    metric = real_records()["v2_derived"]["quality_control"]["metrics"][0]
    return [
        # Documented readings.
        (
            "subject_id-int",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], 828418),
            None,
            _asset_basics(lambda row: row["subject_id"] == "828418"),
        ),
        (
            "subject_id-padded",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], " 828418 "),
            None,
            _asset_basics(lambda row: row["subject_id"] == "828418"),
        ),
        (
            "modalities-str",
            "v2_raw",
            lambda r: _set(r, ["data_description", "modalities"], "behavior"),
            None,
            _asset_basics(lambda row: row["modalities"] == ["behavior"]),
        ),
        (
            "modalities-object",
            "v2_raw",
            lambda r: _set(r, ["data_description", "modalities"], {"abbreviation": "ecephys", "name": "E"}),
            None,
            _asset_basics(lambda row: row["modalities"] == ["ecephys"]),
        ),
        (
            "source_data-str",
            "v2_derived",
            lambda r: _set(r, ["data_description", "source_data"], "some_raw_asset"),
            None,
            lambda t: [row["source_data"] for row in t["source_data"]] == ["some_raw_asset"],
        ),
        (
            "code_ocean-str",
            "v2_raw",
            lambda r: _set(r, ["other_identifiers", "Code Ocean"], "abc"),
            None,
            _asset_basics(lambda row: row["code_ocean"] == ["abc"]),
        ),
        (
            "experimenters-str",
            "v2_raw",
            lambda r: _set(r, ["acquisition", "experimenters"], "ann"),
            None,
            _asset_basics(lambda row: row["experimenters"] == ["ann"]),
        ),
        (
            "project_name-int",
            "v2_raw",
            lambda r: _set(r, ["data_description", "project_name"], 5),
            None,
            _asset_basics(lambda row: row["project_name"] == "5"),
        ),
        (
            "_id-int",
            "v2_raw",
            lambda r: _set(r, ["_id"], 123456),
            None,
            _asset_basics(lambda row: row["_id"] == "123456"),
        ),
        (
            "_id-missing-name-kept",
            "v2_raw",
            lambda r: _delete(r, ["_id"]),
            None,
            _asset_basics(
                lambda row: row["_id"] is None and row["name"].endswith("828418_2026-02-13_18-31-13")
            ),
        ),
        (
            "start-date-only",
            "v2_raw",
            lambda r: _set(r, ["acquisition", "acquisition_start_time"], "2026-02-13"),
            None,
            _asset_basics(  # a date alone is midnight at the lab: PST (-08:00) in February
                lambda row: (
                    row["acquisition_start_time"] == dt.datetime(2026, 2, 13, 8, tzinfo=dt.UTC)
                    and row["age_days"] == (dt.date(2026, 2, 13) - dt.date(2025, 7, 29)).days
                )
            ),
        ),
        (
            "data_description-null",
            "v2_raw",
            lambda r: _set(r, ["data_description"], None),
            None,
            _asset_basics(lambda row: row["project_name"] is None and row["modalities"] == []),
        ),
        (
            "metric-value-dict",
            "v2_derived",
            lambda r: _set(r, ["quality_control", "metrics", 0, "value"], {"b": 1, "a": [1, None]}),
            None,
            lambda t: '{"a": [1, null], "b": 1}' in {row["value"] for row in t["qc"]},
        ),
        (
            "metric-tags-str",
            "v2_derived",
            lambda r: _set(r, ["quality_control", "metrics", 0, "tags"], "single"),
            None,
            lambda t: '"single"' in {row["tags"] for row in t["qc"]},
        ),
        (
            "metric-null-item-ignored",
            "v2_derived",
            lambda r: r["quality_control"]["metrics"].insert(0, None),
            None,
            lambda t: len(t["qc"]) == 131,
        ),
        # Records that must be skipped, with the field named.
        (
            "metrics-dict-by-name",
            "v2_derived",
            lambda r: _set(
                r, ["quality_control", "metrics"], {m["name"]: m for m in r["quality_control"]["metrics"]}
            ),
            "quality_control.metrics",
            None,
        ),
        (
            "metrics-one-object",
            "v2_derived",
            lambda r: _set(r, ["quality_control", "metrics"], dict(metric)),
            "quality_control.metrics",
            None,
        ),
        (
            "metric-not-object",
            "v2_derived",
            lambda r: r["quality_control"]["metrics"].append("not a metric"),
            "quality_control.metrics[131]",
            None,
        ),
        ("name-list", "v2_raw", lambda r: _set(r, ["name"], ["a", "b"]), "name", None),
        ("name-int", "v2_raw", lambda r: _set(r, ["name"], 42), "name", None),
        ("_id-dict", "v2_raw", lambda r: _set(r, ["_id"], {"$oid": "65f0c0ffee"}), "_id", None),
        ("_id-bool", "v2_raw", lambda r: _set(r, ["_id"], True), "_id", None),
        ("_id-float", "v2_raw", lambda r: _set(r, ["_id"], 1.5), "_id", None),
        ("no-_id-no-name", "v2_raw", lambda r: (_delete(r, ["_id"]), _delete(r, ["name"])), "_id", None),
        (
            "_last_modified-number",
            "v2_raw",
            lambda r: _set(r, ["_last_modified"], 1700000000),
            "_last_modified",
            None,
        ),
        (
            "start-time-garbage",
            "v2_raw",
            lambda r: _set(r, ["acquisition", "acquisition_start_time"], "yesterday"),
            "acquisition.acquisition_start_time",
            None,
        ),
        (
            "status-time-number",
            "v2_derived",
            lambda r: _set(
                r, ["quality_control", "metrics", 3, "status_history", 0, "timestamp"], 1700000000
            ),
            "quality_control.metrics[3].status_history[0].timestamp",
            None,
        ),
        (
            "source_data-dict",
            "v2_derived",
            lambda r: _set(r, ["data_description", "source_data"], {"name": "x"}),
            "data_description.source_data",
            None,
        ),
        ("subject-str", "v2_raw", lambda r: _set(r, ["subject"], "828418"), "subject", None),
        (
            "subject_id-float",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], 828418.0),
            "subject.subject_id",
            None,
        ),
        (
            "subject_id-nan",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], float("nan")),
            "subject.subject_id",
            None,
        ),
        (
            "subject_id-bool",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], True),
            "subject.subject_id",
            None,
        ),
        (
            "subject_id-dict",
            "v2_raw",
            lambda r: _set(r, ["subject", "subject_id"], {"id": "828418"}),
            "subject.subject_id",
            None,
        ),
        (
            "qc-status-list",
            "v2_derived",
            lambda r: _set(r, ["quality_control", "status"], ["Pass"]),
            "quality_control.status",
            None,
        ),
        (
            "qc-status-value-dict",
            "v2_derived",
            lambda r: _set(r, ["quality_control", "status", "behavior"], {"x": 1}),
            "quality_control.status.behavior",
            None,
        ),
        (
            "data_processes-one-object",
            "v2_raw",
            lambda r: _set(r, ["processing", "data_processes"], r["processing"]["data_processes"][0]),
            "processing.data_processes",
            None,
        ),
        (
            "modality-number",
            "v2_raw",
            lambda r: _set(r, ["data_description", "modalities"], [7]),
            "data_description.modalities[0]",
            None,
        ),
        ("procedures-list", "v2_raw", lambda r: _set(r, ["procedures"], []), "procedures", None),
    ]


def record_cases() -> list[RecordCase]:
    """Every record case of the batch build, renamed so each has its own _id and name."""
    originals = real_records()
    cases: list[RecordCase] = []

    def add(case_id: str, stem: str, record: Any, skip: str | None, check: Any) -> None:
        cases.append(RecordCase(case_id, record, skip, check))

    for case_id, stem, mutate, skip, check in hand_record_cases():
        record = copy.deepcopy(originals[stem])
        record["_id"] = f"fuzz-{len(cases):03d}"
        record["name"] = f"fuzz{len(cases):03d}_{record['name']}"
        mutate(record)
        add(f"record/{case_id}", stem, record, skip, check)
    for stem, description, mutated in random_mutations():
        mutated["_id"] = f"fuzz-{len(cases):03d}"
        mutated["name"] = f"fuzz{len(cases):03d}_{mutated['name']}"
        add(f"mutation/{stem}/{len(cases):03d} {description}", stem, mutated, record_violation(mutated), None)
    for number, case in enumerate(cases, start=1):
        case.line = number
        if isinstance(case.record, dict):
            identity = case.record.get("_id")
            case.key_id = str(identity) if isinstance(identity, int) else identity
            case.key_name = case.record.get("name")
    return cases


RECORD_CASES = record_cases()


def test_the_oracle_agrees_with_the_hand_written_expectations():
    """The oracle skips exactly the hand-written skips (and nothing of the unmutated real records)."""
    for case in RECORD_CASES:
        if case.id.startswith("record/"):
            assert record_violation(case.record) == case.skip, case.id
    assert all(record_violation(r) is None for r in real_records().values())


@dataclass
class Batch:
    """The result of building every record case in one JSONL."""

    error: BaseException | None = None
    report: Any = None
    tables: dict[str, list[dict]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    path: str = ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    """One build of all record cases from a JSONL file (the line-parsing path a nightly file build takes)."""
    from biodata_cache.sync import update_all_tables

    folder = tmp_path_factory.mktemp("fuzz-batch")
    source = folder / "records.jsonl"
    source.write_text("\n".join(json.dumps(case.record) for case in RECORD_CASES) + "\n")
    root = str(folder / "store")
    result = Batch(path=str(source))
    handler = _Collect()
    logger = logging.getLogger("biodata_cache")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("BIODATA_CACHE_")}
    try:
        result.report = update_all_tables(source=str(source), root=root, progress=False)
        os.environ["BIODATA_CACHE_ROOT"] = root
        for table in ROW_TABLES:
            result.tables[table.name] = bdc.read_table(table.name).to_pylist()
        result.tables["qc"] = qc_metric_rows(root)
        for table in TABLES:
            if table.derived_from:
                result.tables[table.name] = bdc.read_table(table.name).to_pylist()
    except Exception as error:  # classified per case below
        result.error = error
    finally:
        os.environ.pop("BIODATA_CACHE_ROOT", None)
        os.environ.update(saved)
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    result.log = handler.messages
    return result


def _rows_of(batch: Batch, case: RecordCase) -> dict[str, list[dict]]:
    found = {}
    for table in ROW_TABLES:
        key = KEYS[table.name]
        if key == "_id" and case.key_id in (None, ""):  # no _id: the name identifies the row
            found[table.name] = [
                r for r in batch.tables[table.name] if r["_id"] is None and r["name"] == case.key_name
            ]
            continue
        wanted = case.key_id if key == "_id" else case.key_name
        found[table.name] = [row for row in batch.tables[table.name] if row[key] == wanted]
    return found


def classify_record(batch: Batch, case: RecordCase) -> tuple[str, str]:
    if batch.error is not None:
        kind = "wrong" if isinstance(batch.error, BiodataCacheError) else "raw"
        return kind, f"the whole build failed: {type(batch.error).__name__}: {batch.error}"
    where = f"records.jsonl:{case.line}"
    named = [m for m in batch.log if re.search(rf"{re.escape(where)}\b", m)]
    found = _rows_of(batch, case)
    has_rows = any(found.values())
    if case.skip is not None:
        if has_rows:
            return "wrong", f"read instead of skipped ({case.skip}): {found['asset_basics'][:1]}"
        if not any(case.skip in m for m in named):
            return "wrong", f"left out without a warning naming {where} and {case.skip}: {named}"
        return "clear error", named[0]
    if named:
        return "wrong", f"skipped although the contract reads it: {named[0]}"
    expected = case.expected
    actual = {name: canonical(name, values) for name, values in found.items()}
    if actual != expected:
        differ = [name for name in expected if actual[name] != expected[name]]
        return "wrong", f"rows differ from the documented reading in {differ}"
    if case.check is not None and not case.check(found):
        return "wrong", f"documented reading not met: {found['asset_basics'][:1]}"
    return "correct", ""


@pytest.mark.parametrize("case", RECORD_CASES, ids=[c.id for c in RECORD_CASES])
def test_record_is_read_as_documented_or_skipped_with_its_field_named(batch, case):
    outcome, detail = classify_record(batch, case)
    TALLY[case.id] = (outcome, detail)
    assert outcome in ("correct", "clear error"), detail


def test_batch_build_counts_every_skipped_record_and_nothing_else_changes(batch):
    assert batch.error is None, batch.error
    skipped = [c for c in RECORD_CASES if c.skip is not None]
    assert getattr(batch.report, "records_skipped", None) == len(skipped)
    assert batch.report.records_read == len(RECORD_CASES) - len(skipped)
    text = str(batch.report)
    assert f"{len(skipped)} records skipped" in text and "records.jsonl:" in text
    # No stray rows: each table holds exactly the rows of the records that were read.
    read = [c for c in RECORD_CASES if c.skip is None]
    for table in ROW_TABLES:
        expected = sorted(r for c in read for r in c.expected[table.name])
        assert canonical(table.name, batch.tables[table.name]) == expected, table.name
    distinct = {t.name: t for t in TABLES if t.derived_from and t.derive is None}
    for name, table in distinct.items():
        column = table.derived_from[1]
        values = sorted({r[column] for r in batch.tables["asset_basics"] if r[column] is not None})
        assert [r[column] for r in batch.tables[name]] == values


# -- files, lines and bytes ------------------------------------------------------------------------------


def _small(identifier: str, subject: str = "1") -> dict:
    return {"_id": identifier, "name": f"asset_{identifier}", "subject": {"subject_id": subject}}


@dataclass
class Built:
    names: list[str]
    skipped: Any
    log: str
    published: bool


def _build(ctx: Any, source: Path, **kwargs: Any) -> Built:
    from biodata_cache.sync import update_all_tables

    root = ctx.tmp_path / "store"
    handler = _Collect()
    logger = logging.getLogger("biodata_cache")
    logger.addHandler(handler)
    try:
        report = update_all_tables(source=str(source), root=str(root), progress=False, **kwargs)
    finally:
        logger.removeHandler(handler)
    published = (root / "bdc-v0.1" / "catalog.yaml").exists()
    ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", str(root))
    names = sorted(bdc.asset_basics(columns=["name"])["name"])
    return Built(names, getattr(report, "records_skipped", None), "\n".join(handler.messages), published)


def _jsonl(ctx: Any, lines: list[bytes], name: str = "records.jsonl") -> Path:
    path = ctx.tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


GOOD = [json.dumps(_small("a")).encode(), json.dumps(_small("b")).encode()]


def _skipped_one(where: str, reason: str = "") -> Callable[[Built], bool]:
    return lambda b: (
        b.names == ["asset_a", "asset_b"]
        and b.skipped == 1
        and where in b.log
        and reason.lower() in b.log.lower()
    )


def _kept_instead(kept: str, where: str, names: list[str]) -> Callable[[Built], bool]:
    """Of two records sharing an _id, the one named ``kept`` is kept and the other skipped, naming both."""
    return lambda b: (
        b.names == names
        and b.skipped == 1
        and where in b.log
        and "kept _id" in b.log
        and f'name "{kept}"' in b.log
    )


def line_cases() -> list[Case]:
    def bad_line(line: bytes) -> Callable[[Any], Built]:
        return lambda ctx: _build(ctx, _jsonl(ctx, [GOOD[0], line, GOOD[1]]))

    def gz(ctx: Any, data: bytes) -> Path:
        path = ctx.tmp_path / "records.jsonl.gz"
        path.write_bytes(data)
        return path

    whole = gzip.compress(b"\n".join(GOOD) + b"\n")
    cases = [
        Case(
            "jsonl/non-utf8-bytes",
            bad_line(b'{"_id": "c", "name": "caf\xe9"}'),
            _skipped_one("records.jsonl:2", "UTF-8"),
        ),
        Case(
            "jsonl/invalid-json", bad_line(b'{"_id": "c", "name": '), _skipped_one("records.jsonl:2", "JSON")
        ),
        Case("jsonl/array", bad_line(b"[1, 2]"), _skipped_one("records.jsonl:2")),
        Case("jsonl/number", bad_line(b"42"), _skipped_one("records.jsonl:2")),
        Case("jsonl/string", bad_line(b'"text"'), _skipped_one("records.jsonl:2")),
        Case("jsonl/null", bad_line(b"null"), _skipped_one("records.jsonl:2")),
        Case("jsonl/empty-object", bad_line(b"{}"), _skipped_one("records.jsonl:2")),
        Case("jsonl/nul-bytes", bad_line(b"\x00\x00\x00"), _skipped_one("records.jsonl:2")),
        Case("jsonl/deeply-nested", bad_line(b"[" * 100_000), _skipped_one("records.jsonl:2")),
        Case(
            "jsonl/nan-subject",
            bad_line(b'{"_id": "c", "name": "c", "subject": {"subject_id": NaN}}'),
            _skipped_one("records.jsonl:2", "subject.subject_id"),
        ),
        Case(
            "jsonl/utf8-bom-first-line",
            lambda ctx: _build(ctx, _jsonl(ctx, [b"\xef\xbb\xbf" + GOOD[0], GOOD[1]])),
            lambda b: b.names == ["asset_a", "asset_b"] and b.skipped == 0,
        ),
        Case(
            "jsonl/crlf",
            lambda ctx: _build(ctx, _jsonl(ctx, [GOOD[0] + b"\r", GOOD[1] + b"\r"])),
            lambda b: b.names == ["asset_a", "asset_b"] and b.skipped == 0,
        ),
        Case(
            "jsonl/non-ascii-utf8",
            lambda ctx: _build(
                ctx,
                _jsonl(
                    ctx,
                    [
                        json.dumps(
                            {"_id": "a", "name": "asset_a", "notes": "café ✓"}, ensure_ascii=False
                        ).encode(),
                        GOOD[1],
                    ],
                ),
            ),
            lambda b: b.names == ["asset_a", "asset_b"] and b.skipped == 0,
        ),
        Case(
            "jsonl/latin1-file",
            lambda ctx: _build(
                ctx, _jsonl(ctx, [GOOD[0], '{"_id": "c", "name": "café"}'.encode("latin-1"), GOOD[1]])
            ),
            _skipped_one("records.jsonl:2", "UTF-8"),
        ),
        Case(
            "jsonl/truncated-last-line",
            lambda ctx: _build(ctx, _jsonl(ctx, [GOOD[0], GOOD[1], GOOD[1][:9]])),
            _skipped_one("records.jsonl:3", "JSON"),
        ),
        Case(
            "jsonl/duplicate-id",
            lambda ctx: _build(
                ctx, _jsonl(ctx, [GOOD[0], GOOD[1], json.dumps({**_small("a"), "name": "x"}).encode()])
            ),
            # neither has a change time: the later one in the source is kept, the other skipped
            _kept_instead("x", '_id "a" name "asset_a"', ["asset_b", "x"]),
        ),
        Case(
            "jsonl/empty-file",
            lambda ctx: _build(ctx, _jsonl(ctx, [b""])),
            lambda b: b.names == [] and b.skipped == 0 and b.published,
        ),
        Case(
            "jsonl-gz/non-utf8-bytes",
            lambda ctx: _build(
                ctx, gz(ctx, gzip.compress(GOOD[0] + b'\n{"_id": "c", "name": "\xff"}\n' + GOOD[1] + b"\n"))
            ),
            _skipped_one("records.jsonl.gz:2", "UTF-8"),
        ),
        Case(
            "jsonl-gz/truncated",
            lambda ctx: _build(ctx, gz(ctx, whole[: len(whole) // 2])),
            error=r"records\.jsonl\.gz",
        ),
        Case(
            "jsonl-gz/not-gzip",
            lambda ctx: _build(ctx, gz(ctx, b"not gzip at all")),
            error=r"records\.jsonl\.gz",
        ),
    ]
    return cases


def folder_cases() -> list[Case]:
    def folder(ctx: Any, files: dict[str, bytes]) -> Path:
        base = ctx.tmp_path / "records"
        for name, data in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(data)
        return base

    def run(files: dict[str, bytes]) -> Callable[[Any], Built]:
        return lambda ctx: _build(ctx, folder(ctx, files))

    a, b = GOOD
    mount = json.dumps(_small("m")).encode()
    return [
        Case(
            "folder/invalid-json-file",
            run({"a.json": a, "bad.json": b"{nope", "b.json": b}),
            _skipped_one("bad.json", "JSON"),
        ),
        Case(
            "folder/non-utf8-file",
            run({"a.json": a, "bad.json": b'{"_id": "\xff"}', "b.json": b}),
            _skipped_one("bad.json", "UTF-8"),
        ),
        Case(
            "folder/list-with-a-number",
            run({"ab.json": b"[" + a + b", 7, " + b + b"]"}),
            _skipped_one("ab.json[1]"),
        ),
        Case(
            "folder/json-scalar-file",
            run({"a.json": a, "bad.json": b"7", "b.json": b}),
            _skipped_one("bad.json"),
        ),
        Case(
            "folder/duplicate-id",
            run({"a.json": a, "b.json": b, "c.json": json.dumps({**_small("b"), "name": "x"}).encode()}),
            _kept_instead("x", '_id "b" name "asset_b"', ["asset_a", "x"]),
        ),
        Case(
            "mount/invalid-metadata",
            run({"a.json": a, "b.json": b, "m/metadata.json": b"{nope"}),
            _skipped_one("metadata.json", "JSON"),
        ),
        Case(
            "mount/component-is-a-list",
            run(
                {
                    "a.json": a,
                    "b.json": b,
                    "m/metadata.json": mount,
                    "m/subject.json": b'[{"subject_id": "1"}]',
                }
            ),
            _skipped_one("subject.json"),
        ),
        Case(
            "mount/component-non-utf8",
            run(
                {
                    "a.json": a,
                    "b.json": b,
                    "m/metadata.json": mount,
                    "m/subject.json": b'{"subject_id": "\xff"}',
                }
            ),
            _skipped_one("subject.json", "UTF-8"),
        ),
    ]


# -- configuration: versions, roots, backends, sources, storage_options -----------------------------------


def version_cases() -> list[Case]:
    good = {
        "0.1": "bdc-v0.1",
        "bdc-v0.1": "bdc-v0.1",
        "v0.1": "bdc-v0.1",
        "0.1.3": "bdc-v0.1",
        "0.10": "bdc-v0.10",
        "0.1.0rc1": "bdc-v0.1",
        "0.1.0.dev3+g1a2b": "bdc-v0.1",
        " 0.1": "bdc-v0.1",
        "0.1\n": "bdc-v0.1",
    }
    bad = [
        "0.1.2.3",
        "bdc-v",
        "٠.١",
        "０.１",
        "1e3",
        "",
        "0.1.2garbage",
        "latest",
        "0",
        "../0.1",
        "0.1/x",
        "bdc-v0.1/..",
        "0.1\u200b",
        "1.2.3.4.5",
        "-1.0",
    ]
    cases = [
        Case(f"version/{v!r}", lambda ctx, v=v: config.version_folder(v), lambda r, f=f: r == f)
        for v, f in good.items()
    ]
    cases += [
        Case(
            f"version/{v!r}",
            lambda ctx, v=v: config.version_folder(v),
            error="not a version|must not be empty",
        )
        for v in bad
    ]
    cases += [
        Case(f"version/{v!r}", lambda ctx, v=v: config.version_folder(v), error="must be a string")
        for v in (1, 0.1, True, b"0.1", ["0.1"])
    ]
    cases += [
        Case("version/None-is-installed", lambda ctx: config.version_folder(None), lambda r: r == "bdc-v0.1"),
        Case(
            "version/env-unicode-digits",
            lambda ctx: (ctx.monkeypatch.setenv("BIODATA_CACHE_VERSION", "٠.١"), config.resolve()),
            error="BIODATA_CACHE_VERSION|not a version",
        ),
        Case("version/argument-empty", lambda ctx: config.resolve(version=""), error="version"),
        Case(
            "version/env-empty-is-unset",
            lambda ctx: (ctx.monkeypatch.setenv("BIODATA_CACHE_VERSION", ""), config.resolve())[1].version,
            lambda r: r == "bdc-v0.1",
        ),
    ]
    return cases


def root_cases() -> list[Case]:
    def resolve_root(root: Any) -> Callable[[Any], Any]:
        return lambda ctx: config.resolve(root=root)

    def env_root(root: str) -> Callable[[Any], Any]:
        return lambda ctx: (ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", root), config.resolve())[1]

    def build_into(root: Any) -> Callable[[Any], Any]:
        def run(ctx: Any) -> Any:
            from biodata_cache.sync import update_all_tables

            ctx.monkeypatch.chdir(ctx.tmp_path)
            source = _jsonl(ctx, GOOD)
            return update_all_tables(source=str(source), root=root, progress=False)

        return run

    def a_file(ctx: Any) -> str:
        path = ctx.tmp_path / "not-a-folder.txt"
        path.write_text("x")
        return str(path)

    def relative(ctx: Any) -> Any:
        ctx.monkeypatch.chdir(ctx.template.parent)
        ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", ctx.template.name)
        return config.resolve().root, bdc.unique_project_names()

    def home(ctx: Any) -> Any:
        ctx.monkeypatch.setenv("HOME", str(ctx.tmp_path))
        return config.resolve(root="~/store").root

    return [
        Case("root/empty-argument", resolve_root(""), error="root"),
        Case("root/blank-argument", resolve_root(" "), error="root"),
        Case("root/padded-path", resolve_root(" /tmp/x"), error="root"),
        Case("root/not-a-string", resolve_root(5), error="root"),
        Case("root/s3-without-bucket", resolve_root("s3://"), error="s3://"),
        Case("root/s3-slash-only", resolve_root("s3:///"), error="s3://"),
        Case("root/memory-without-path", resolve_root("memory://"), error="memory://"),
        Case("root/file-url-without-path", resolve_root("file://"), error="file://"),
        Case("root/unknown-protocol", resolve_root("nosuch://x"), error="nosuch"),
        Case(
            "root/unknown-protocol-read",
            lambda ctx: (
                ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", "nosuch://x"),
                bdc.unique_project_names(),
            ),
            error="nosuch",
        ),
        Case("root/ftp-is-an-fsspec-url", resolve_root("ftp://x"), lambda s: s.backend == "S3"),
        Case(
            "root/ftp-read-fails-clearly",
            lambda ctx: (ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", "ftp://x"), bdc.unique_project_names()),
            error="ftp://x",
        ),
        Case("root/a-file", lambda ctx: config.resolve(root=a_file(ctx)), error="not-a-folder.txt.*folder"),
        Case(
            "root/a-file-read",
            lambda ctx: (
                ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", a_file(ctx)),
                bdc.unique_project_names(),
            ),
            error="not-a-folder.txt",
        ),
        Case("root/env-empty-is-unset", env_root(""), lambda s: s.root == config.MEMORY_ROOT),
        Case("root/env-blank", env_root("  "), error="BIODATA_CACHE_ROOT"),
        Case(
            "root/relative-folder",
            relative,
            lambda r: os.path.isabs(r[0]) and r[1] == ["Learning mFISH", "Patch foraging"],
        ),
        Case("root/home-folder", home, lambda r: not r.startswith("~") and r.endswith("store")),
        Case("build/root-empty", build_into(""), error="root"),
        Case("build/root-blank", build_into(" "), error="root"),
        Case("build/root-a-file", lambda ctx: build_into(a_file(ctx))(ctx), error="not-a-folder.txt"),
        Case("build/root-s3-without-bucket", build_into("s3://"), error="s3://"),
        Case("backend/not-a-string", lambda ctx: config.resolve(backend=5), error="backend"),
        Case("backend/empty-argument", lambda ctx: config.resolve(backend=""), error="backend"),
        Case("backend/lower-case", lambda ctx: config.resolve(backend="s3").backend, lambda r: r == "S3"),
        Case("source/empty-argument", lambda ctx: config.resolve(source=""), error="source"),
        Case("source/not-a-string", lambda ctx: config.resolve(source=5), error="source"),
        Case(
            "source/unknown-protocol",
            lambda ctx: list(__import__("biodata_cache.sources").sources.open_source("nosuch://x").records()),
            error="nosuch",
        ),
        Case(
            "source/docdb-without-host",
            lambda ctx: __import__("biodata_cache.sources").sources.open_source("docdb://"),
            error="docdb://",
        ),
    ]


def storage_cases() -> list[Case]:
    s3 = "s3://allen-data-views/data-asset-cache"

    def on(root: str, options: Any) -> Callable[[Any], Any]:
        return lambda ctx: config.resolve(root=root, storage_options=options).storage_options

    def read_with(options: Any, root: str | None = None) -> Callable[[Any], Any]:
        def run(ctx: Any) -> Any:
            ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", root or str(ctx.template))
            return bdc.unique_project_names(storage_options=options)

        return run

    return [
        Case("storage/s3-unknown-key", on(s3, {"anonymous": True}), error="anonymous.*anon"),
        Case("storage/s3-key-without-secret", on(s3, {"key": "AKIAEXAMPLE"}), error="secret"),
        Case("storage/s3-secret-without-key", on(s3, {"secret": "x"}), error="key"),
        Case("storage/s3-token-without-key", on(s3, {"token": "x"}), error="key"),
        Case("storage/s3-anon-not-bool", on(s3, {"anon": "yes"}), error="anon"),
        Case("storage/s3-key-not-str", on(s3, {"key": 5, "secret": "x"}), error="key"),
        Case("storage/non-str-key", on(s3, {1: True}), error="storage_options"),
        Case("storage/not-a-dict", on(s3, [("anon", True)]), error="storage_options"),
        Case("storage/s3-anon", on(s3, {"anon": True}), lambda r: r == {"anon": True}),
        Case(
            "storage/s3-key-and-secret",
            on(s3, {"key": "a", "secret": "b"}),
            lambda r: r == {"key": "a", "secret": "b"},
        ),
        Case(
            "storage/s3-client-kwargs",
            on(s3, {"client_kwargs": {"region_name": "us-west-2"}}),
            lambda r: r["client_kwargs"] == {"region_name": "us-west-2"},
        ),
        Case("storage/none", on(s3, None), lambda r: r == {}),
        Case("storage/local-unknown-key", on("/tmp/store", {"bogus": 1}), error="bogus"),
        Case("storage/local-anon", on("/tmp/store", {"anon": True}), error="anon"),
        Case(
            "storage/local-auto-mkdir",
            on("/tmp/store", {"auto_mkdir": True}),
            lambda r: r == {"auto_mkdir": True},
        ),
        Case(
            "storage/https-headers",
            on("https://mirror.example/x", {"headers": {"X": "1"}}),
            lambda r: r == {"headers": {"X": "1"}},
        ),
        Case("storage/read-local-unknown-key", read_with({"bogus": 1}), error="bogus"),
        Case("storage/read-local-empty", read_with({}), lambda r: r == ["Learning mFISH", "Patch foraging"]),
        Case("storage/read-s3-key-without-secret", read_with({"key": "AKIAEXAMPLE"}, s3), error="secret"),
        Case("storage/read-s3-unknown-key", read_with({"anonymus": True}, s3), error="anonymus"),
    ]


# -- damaged store files ---------------------------------------------------------------------------------


def damaged_cases() -> list[Case]:
    def damage(relative: str, data: bytes | None, call: Callable[[], Any]) -> Callable[[Any], Any]:
        def run(ctx: Any) -> Any:
            store = ctx.tmp_path / "store"
            shutil.copytree(ctx.template, store)
            (path,) = store.glob(relative)  # data files are named by their build: a glob names the one
            content = path.read_bytes()
            path.write_bytes(content[: len(content) // 2] if data is None else data)
            ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", str(store))
            # Damaged content is fetched again a few times with backoff (it may have been cut short in
            # transit); no need to wait for it here.
            ctx.monkeypatch.setattr("biodata_cache.store.time.sleep", lambda seconds: None)
            return call()

        return run

    versions, registry, catalog = (
        "cache_versions.json",
        "bdc-v0.1/cache_registry.json",
        "bdc-v0.1/catalog.yaml",
    )
    cases = []
    for label, data in [
        ("object", b'{"bdc-v0.1": true}'),
        ("string", b'"bdc-v0.1"'),
        ("numbers", b"[1, 2]"),
        ("truncated", None),
        ("binary", b"\xff\xfe\x00"),
        ("empty", b""),
        ("not-version-names", b'["../x", "bdc-v0.1"]'),
    ]:
        cases.append(
            Case(
                f"damaged/versions-{label}",
                damage(versions, data, bdc.get_cache_versions),
                error="cache_versions.json",
            )
        )
    entry = {
        "name": "qc",
        "description": "d",
        "location": "l",
        "path": "qc",
        "partitioned": True,
        "partition_key": "subject_id",
        "type": "frame",
        "columns": [],
        "rows": 1,
        "built_at": "",
        "source": "s",
    }
    for label, data in [
        ("list", b"[]"),
        ("tables-string", b'{"tables": "x"}'),
        ("table-number", b'{"tables": [1]}'),
        ("table-missing-keys", b'{"tables": [{"name": "qc"}]}'),
        ("rows-not-int", json.dumps({"tables": [{**entry, "rows": "many"}]}).encode()),
        ("columns-not-list", json.dumps({"tables": [{**entry, "columns": "x"}]}).encode()),
        ("truncated", None),
        ("binary", b"\xff"),
        ("empty", b""),
    ]:
        cases.append(
            Case(
                f"damaged/registry-{label}",
                damage(registry, data, bdc.get_cache_registry),
                error="cache_registry.json",
            )
        )
    for label, data in [
        ("garbage-yaml", b"sources: [\n"),
        ("list", b"- 1\n"),
        ("text", b"just text"),
        ("binary", b"\xff\xfe\x00"),
        ("empty", b""),
        ("entry-number", b"sources: {asset_basics: 5}\n"),
        ("python-tag", b"!!python/object:os.system x\n"),
        ("urlpath-number", b"sources:\n  asset_basics: {driver: biodata_parquet, args: {urlpath: 5}}\n"),
    ]:
        cases.append(
            Case(f"damaged/catalog-{label}", damage(catalog, data, bdc.asset_basics), error="catalog.yaml")
        )
    cases.append(
        Case(
            "damaged/catalog-truncated",
            damage(catalog, None, lambda: len(bdc.asset_basics())),
            lambda r: r == 5,
            error="catalog.yaml",
        )
    )
    for label, data in [("empty", b""), ("truncated", None), ("garbage", b"garbage")]:
        cases.append(
            Case(
                f"damaged/parquet-table-{label}",
                damage("bdc-v0.1/asset_basics-*.pqt", data, bdc.asset_basics),
                error="asset_basics",
            )
        )
        cases.append(
            Case(
                f"damaged/parquet-partition-{label}",
                damage("bdc-v0.1/qc/subject_id=692478/*.pqt", data, lambda: bdc.qc("692478")),
                error="692478",
            )
        )
        cases.append(
            Case(
                f"damaged/parquet-partition-{label}-whole-table",
                damage("bdc-v0.1/qc/subject_id=692478/*.pqt", data, lambda: bdc.qc()),
                error="692478",
            )
        )
    return cases


# -- the public API with odd arguments ---------------------------------------------------------------------


def api_cases() -> list[Case]:
    def on_store(call: Callable[[], Any]) -> Callable[[Any], Any]:
        def run(ctx: Any) -> Any:
            ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", str(ctx.template))
            return call()

        return run

    def on_copy(call: Callable[[], Any]) -> Callable[[Any], Any]:
        def run(ctx: Any) -> Any:
            shutil.copytree(ctx.template, ctx.tmp_path / "store")
            ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", str(ctx.tmp_path / "store"))
            return call()

        return run

    frame = pd.DataFrame({"a": [1, 2]})
    return [
        Case("api/qc-list", on_store(lambda: bdc.qc(["692478"])), error="subject_id"),
        Case("api/qc-bytes", on_store(lambda: bdc.qc(b"692478")), error="subject_id"),
        Case("api/qc-int", on_store(lambda: bdc.qc(692478)), error="subject_id"),
        Case("api/qc-one-subject", on_store(lambda: len(bdc.qc("692478"))), lambda r: r == 2),
        Case(
            "api/qc-version-padded", on_store(lambda: len(bdc.qc("692478", version=" 0.1"))), lambda r: r == 2
        ),
        Case("api/qc-columns-empty", on_store(lambda: bdc.qc("692478", columns=[])), error="columns"),
        Case("api/qc-asset-names-empty", on_store(lambda: bdc.qc(asset_names=[])), error="asset_names"),
        Case(
            "api/asset-basics-columns-tuple",
            on_store(lambda: list(bdc.asset_basics(columns=("name",)).columns)),
            lambda r: r == ["name"],
        ),
        Case(
            "api/asset-basics-columns-duplicate",
            on_store(lambda: bdc.asset_basics(columns=["name", "name"])),
            error="name",
        ),
        Case(
            "api/asset-basics-modality-int", on_store(lambda: bdc.asset_basics(modality=5)), error="modality"
        ),
        Case(
            "api/asset-basics-modality-mixed",
            on_store(lambda: bdc.asset_basics(modality=["pophys", 5])),
            error="modality",
        ),
        Case(
            "api/asset-basics-subject-set",
            on_store(lambda: sorted(bdc.asset_basics(subject_id={"828418"})["_id"])),
            lambda r: r == ["4", "5"],
        ),
        Case("api/read-table-none", on_store(lambda: bdc.read_table(None)), error="table"),
        Case("api/read-table-int", on_store(lambda: bdc.read_table(5)), error="table"),
        Case("api/read-table-empty", on_store(lambda: bdc.read_table("")), error="table"),
        Case("api/read-table-path", on_store(lambda: bdc.read_table("../catalog")), error="table"),
        Case(
            "api/read-table-unknown-column",
            on_store(lambda: bdc.read_table("asset_basics", columns=["nope"])),
            error="nope",
        ),
        Case(
            "api/read-table-columns-str",
            on_store(lambda: bdc.read_table("asset_basics", columns="name")),
            error="columns",
        ),
        Case(
            "api/read-table-filter-unknown-column",
            on_store(lambda: bdc.read_table("asset_basics", filters=[("nope", "==", "x")])),
            error="nope",
        ),
        Case(
            "api/read-table-filters-str",
            on_store(lambda: bdc.read_table("asset_basics", filters="x")),
            error="filters",
        ),
        Case(
            "api/read-table-filter-operator",
            on_store(lambda: bdc.read_table("asset_basics", filters=[("name", "LIKE", "x")])),
            error="LIKE",
        ),
        Case(
            "api/read-table-filter-pair",
            on_store(lambda: bdc.read_table("asset_basics", filters=[("name", "==")])),
            error="filters",
        ),
        Case(
            "api/read-table-filter-ok",
            on_store(
                lambda: bdc.read_table("asset_basics", filters=[("subject_id", "==", "828418")]).num_rows
            ),
            lambda r: r == 2,
        ),
        Case(
            "api/read-table-parameter-int",
            on_store(lambda: bdc.read_table("qc", parameters={"subject_id": 692478})),
            error="subject_id",
        ),
        Case(
            "api/read-table-parameters-str",
            on_store(lambda: bdc.read_table("qc", parameters="x")),
            error="parameters",
        ),
        Case("api/raw-to-derived-none", on_store(lambda: bdc.raw_to_derived(None)), error="asset_name"),
        Case("api/raw-to-derived-empty", on_store(lambda: bdc.raw_to_derived("")), error="asset_name"),
        Case("api/raw-to-derived-empty-list", on_store(lambda: bdc.raw_to_derived([])), error="asset_name"),
        Case(
            "api/raw-to-derived-modality-int",
            on_store(lambda: bdc.raw_to_derived("ophys_692478_raw", modality=7)),
            error="modality",
        ),
        Case(
            "api/raw-to-derived-ok",
            on_store(lambda: bdc.raw_to_derived("ophys_692478_raw", latest=True)),
            lambda r: r == ["ophys_692478_raw_processed_2024-03-05_10-00-00"],
        ),
        Case("api/custom-name-int", on_copy(lambda: bdc.custom(5, frame)), error="name"),
        Case("api/custom-df-str", on_copy(lambda: bdc.custom("mine", "not a frame")), error="DataFrame"),
        Case(
            "api/custom-description-int",
            on_copy(lambda: bdc.custom("mine", frame, description=5)),
            error="description",
        ),
        Case(
            "api/custom-roundtrip",
            on_copy(lambda: bdc.custom("mine", frame)["a"].tolist()),
            lambda r: r == [1, 2],
        ),
        Case("api/custom-missing", on_copy(lambda: bdc.custom("absent")), error="absent"),
        Case(
            "api/registry-version-int", on_store(lambda: bdc.get_cache_registry(version=5)), error="version"
        ),
        Case(
            "api/registry-version-missing",
            on_store(lambda: bdc.get_cache_registry(version="0.9")),
            error="bdc-v0.9",
        ),
        Case(
            "api/open-catalog-unicode-version",
            on_store(lambda: bdc.open_catalog(version="٠.١")),
            error="version",
        ),
        Case(
            "api/versions-storage-options-str",
            on_store(lambda: bdc.get_cache_versions(storage_options="anon")),
            error="storage_options",
        ),
        Case(
            "api/list-reader-odd-version",
            on_store(lambda: bdc.unique_project_names(version="0.1.2.3")),
            error="version",
        ),
        Case(
            "api/read-missing-explicit-folder",
            lambda ctx: (
                ctx.monkeypatch.setenv("BIODATA_CACHE_ROOT", str(ctx.tmp_path / "my-stor")),
                bdc.unique_project_names(),
            ),
            error="my-stor.*biodata-cache build",
        ),
    ]


CASES = line_cases() + folder_cases() + version_cases() + root_cases() + storage_cases() + damaged_cases()
CASES += api_cases()


@dataclass
class Context:
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    template: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A published store to copy or read (never written by the cases)."""
    root = tmp_path_factory.mktemp("fuzz-template") / "store"
    publish_fixture(str(root))
    return root


def classify(case: Case, ctx: Context) -> tuple[str, str]:
    try:
        answer = case.run(ctx)
    except BiodataCacheError as error:
        if case.error is None:
            return "wrong", f"raised {type(error).__name__}: {error} where an answer is documented"
        if not re.search(case.error, str(error), re.DOTALL):
            return "wrong", f"message does not name {case.error!r}: {type(error).__name__}: {error}"
        return "clear error", f"{type(error).__name__}: {error}"
    except Exception as error:
        return "raw", f"{type(error).__name__}: {error}"
    if case.check is None:
        return "wrong", f"returned {answer!r:.300} instead of raising"
    try:
        right = case.check(answer)
    except Exception as error:
        right = False
        answer = f"{answer!r:.200} ({type(error).__name__} in check: {error})"
    return ("correct", "") if right else ("wrong", f"returned {answer!r:.300}")


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def run_case(case: Case, tmp_path: Path, template: Path) -> tuple[str, str]:
    """Classify one case with a clean environment (no BIODATA_CACHE_* variables) and record it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in list(os.environ):
            if name.startswith("BIODATA_CACHE_"):
                monkeypatch.delenv(name)
        TALLY[case.id] = classify(case, Context(tmp_path, monkeypatch, template))
    return TALLY[case.id]


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_input_gives_the_right_answer_or_a_clear_error(case, tmp_path, template):
    outcome, detail = run_case(case, tmp_path, template)
    assert outcome in ("correct", "clear error"), detail


# -- the tally (keep this test last) ------------------------------------------------------------------------


def test_fuzz_tally_has_no_wrong_answer_and_no_raw_traceback(capsys, batch, template, tmp_path_factory):
    """Print tried / correct / clear error / wrong / raw; every non-xfail case must be right or clear.

    Cases not run yet (a ``-k`` selection) are run here, so the tally always covers the whole corpus.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    for record_case in RECORD_CASES:
        TALLY.setdefault(record_case.id, classify_record(batch, record_case))
    for case in CASES:
        if case.id not in TALLY:
            MemoryFileSystem.store.clear()
            run_case(case, tmp_path_factory.mktemp("case"), template)
    known = {c.id for c in CASES if c.xfail}
    total = len(RECORD_CASES) + len(CASES)
    counts = dict.fromkeys(OUTCOMES, 0)
    gaps = dict.fromkeys(OUTCOMES, 0)
    for case_id, (outcome, _detail) in TALLY.items():
        (gaps if case_id in known else counts)[outcome] += 1
    tried = sum(counts.values())
    line = (
        f"fuzz: {tried} tried, {counts['correct']} correct, {counts['clear error']} clear error, "
        f"{counts['wrong']} wrong, {counts['raw']} raw"
    )
    if known:
        line += (
            f" (+ {len(known)} known gaps, xfail: {gaps['raw']} raw, {gaps['wrong']} wrong, "
            f"{gaps['clear error'] + gaps['correct']} fixed)"
        )
    line += f"; {total} cases"
    logging.getLogger(__name__).warning("%s", line)
    with capsys.disabled():
        print(f"\n{line}")
    bad = {k: v for k, v in TALLY.items() if k not in known and v[0] in ("wrong", "raw")}
    assert not bad, "\n".join(f"{k}: {v[0]}: {v[1]}" for k, v in sorted(bad.items()))
