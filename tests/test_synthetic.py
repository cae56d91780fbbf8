"""The synthetic corpus: deterministic, streaming, and every record shape DocDB holds (v2, v1, hybrid)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from biodata_cache.sources import sample_path
from biodata_cache.synthetic import DEFAULT_SHAPES, LABEL, generate

LAB = ZoneInfo("America/Los_Angeles")


def shape(record: dict) -> str:
    """v2 / v1 / hybrid, from the marks docs/reference/record-shapes.md lists."""
    if "_created" in record and "external_links" not in record:
        return "v2"
    return "v1" if "modality" in record["data_description"] else "hybrid"


def sources(record: dict) -> list[str]:
    description = record["data_description"]
    if description.get("source_data"):
        return description["source_data"]
    return [description["input_data_name"]] if description.get("input_data_name") else []


def start_instant(record: dict) -> dt.datetime:
    """The acquisition start of any shape; a time without offset is the lab's local time."""
    acquisition = record.get("acquisition") or {}
    text = (
        acquisition.get("acquisition_start_time")
        or (record.get("session") or {}).get("session_start_time")
        or acquisition["session_start_time"]
    )
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=LAB)


def qc_metrics(record: dict) -> list[dict]:
    quality = record.get("quality_control") or {}
    return quality.get("metrics") or [m for e in quality.get("evaluations") or [] for m in e["metrics"]]


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return list(generate(3000, seed=11, max_metrics=20))


@pytest.fixture(scope="module")
def v2_only() -> list[dict]:
    return list(generate(3000, seed=11, max_metrics=20, shapes={"v2": 1}, v2_last_modified=0))


def test_same_seed_same_records_and_the_corpus_streams():
    assert list(generate(300, seed=5)) == list(generate(300, seed=5))
    assert list(generate(300, seed=5)) != list(generate(300, seed=6))
    assert next(generate(10**9, seed=5))["notes"] == LABEL  # lazy: the first record comes at once


def test_each_shape_has_its_share(corpus):
    counts = Counter(shape(r) for r in corpus)
    for name, share in DEFAULT_SHAPES.items():
        assert abs(counts[name] / len(corpus) - share) < 0.04, counts
    assert {shape(r) for r in generate(200, seed=1, shapes={"v1": 1})} == {"v1"}
    assert {shape(r) for r in generate(200, seed=1, shapes={"hybrid": 2, "v1": 0})} == {"hybrid"}


@pytest.mark.parametrize("shapes", [{"v3": 1}, {"v2": -0.5, "v1": 1.5}, {"v2": 0, "v1": 0}, {"v2": "most"}])
def test_bad_shares_are_refused(shapes):
    with pytest.raises(ValueError, match="shapes"):
        generate(10, shapes=shapes)  # at the call, before a file is opened for the records


def test_v2_records_are_those_of_a_v2_only_corpus(corpus, v2_only):
    """The shares change which records are written as v1 / hybrid, never what a v2 record looks like."""
    pairs = list(zip(corpus, v2_only, strict=True))
    v2 = [(new, old) for new, old in pairs if shape(new) == "v2"]
    assert all(new == old for new, old in v2 if "_last_modified" in new)
    renamed = [(new, old) for new, old in v2 if "_last_modified" not in new]
    assert 0 < len(renamed) < len(v2) / 10
    for new, old in renamed:
        assert new["last_modified"] == old.pop("_last_modified")
        assert new == old | {"last_modified": new["last_modified"]}


def test_v1_and_hybrid_records_hold_the_same_asset_in_their_shape(corpus, v2_only):
    for new, old in zip(corpus, v2_only, strict=True):
        if shape(new) == "v2":
            continue
        assert new["notes"] == LABEL
        assert new["_id"] == old["_id"]
        # A subject moved to a legacy platform (exaSPIM, SLAP2) has that platform's name prefix.
        assert new["name"].split("_", 1)[1] == old["name"].split("_", 1)[1]
        assert new["location"] == f"s3://aind-open-data/{new['name']}"
        assert new["subject"]["subject_id"] == old["subject"]["subject_id"]
        assert start_instant(new) == start_instant(old)
        assert "_created" not in new and "_last_modified" not in new
        assert new["created"] and new["last_modified"]
        if new.get("quality_control"):
            assert [m["name"] for m in qc_metrics(new)] == [m["name"] for m in qc_metrics(old)]


def test_v1_records_use_the_v1_fields(corpus):
    v1 = [r for r in corpus if shape(r) == "v1"]
    for record in v1:
        assert "other_identifiers" not in record
        assert isinstance(record["external_links"], (dict, list))
        assert "subject_details" not in record["subject"] and "genotype" in record["subject"]
        assert "modalities" not in record["data_description"]
        assert "source_data" not in record["data_description"]
        assert bool(record["session"]) != bool((record["acquisition"] or {}).get("session_start_time"))
        if record["quality_control"]:
            assert record["quality_control"]["evaluations"] and "metrics" not in record["quality_control"]
    spelled = Counter()
    for record in v1:
        modality = record["data_description"]["modality"]
        spelled.update([modality] if isinstance(modality, str) else [m["abbreviation"] for m in modality])
    assert {"SmartSPIM", "exaSPIM", "FIP", "trained-behavior", "slap", "ophys"} <= set(spelled)
    levels = Counter(r["data_description"]["data_level"] for r in v1)
    assert levels["raw data"] and levels["derived data"]
    steps = Counter(
        "pipeline" if "processing_pipeline" in (r["processing"] or {}) else "top"
        for r in v1
        if r["processing"]
    )
    assert steps["pipeline"] and steps["top"]
    offsets = {r["session"]["session_start_time"][-6:] for r in v1 if r["session"]}
    assert {"-07:00", "-08:00"} <= offsets
    assert any(
        e.get("latest_status") for r in v1 for e in (r["quality_control"] or {}).get("evaluations", [])
    )


def test_hybrid_records_have_a_v1_top_level_and_2x_parts(corpus):
    hybrids = [r for r in corpus if shape(r) == "hybrid"]
    assert hybrids
    for record in hybrids:
        assert isinstance(record["external_links"], dict)
        assert "modalities" in record["data_description"]
        assert "session" in record and "rig" in record
        if record.get("quality_control"):
            assert "metrics" in record["quality_control"]
    assert any(r["session"] for r in hybrids) and any(r["acquisition"] for r in hybrids)


def test_lineage_names_raw_records_of_the_corpus_in_either_shape(corpus):
    raw = {r["name"]: shape(r) for r in corpus if r["data_description"]["data_level"].startswith("raw")}
    pairs = Counter()
    for record in corpus:
        for name in sources(record):
            assert name in raw, f"{record['name']} names {name}, not a raw record of the corpus"
            pairs[shape(record), raw[name]] += 1
    assert {("v1", "v2"), ("v2", "v1"), ("hybrid", "v2"), ("v1", "v1")} <= set(pairs)


def test_bundled_sample_holds_every_shape_with_qc_and_lineage_in_both_forms():
    with gzip.open(sample_path(), "rt") as handle:
        records = [json.loads(line) for line in handle]
    shapes = Counter(shape(r) for r in records)
    assert shapes["v2"] and shapes["v1"] and shapes["hybrid"]
    assert any("last_modified" in r and "_created" in r for r in records)  # v2 with last_modified
    qc = Counter(
        "evaluations" if "evaluations" in r["quality_control"] else "metrics"
        for r in records
        if r.get("quality_control")
    )
    assert qc["metrics"] and qc["evaluations"]
    lineage = Counter(
        "source_data" if r["data_description"].get("source_data") else "input_data_name"
        for r in records
        if sources(r)
    )
    assert lineage["source_data"] and lineage["input_data_name"]


def test_legacy_platform_subjects_are_v1_throughout(corpus):
    legacy = [r for r in corpus if r["name"].startswith(("exaSPIM_", "SLAP2_"))]
    assert legacy and {shape(r) for r in legacy} == {"v1"}
    platforms = {
        r["data_description"]["platform"]["abbreviation"]
        for r in legacy
        if "platform" in r["data_description"]
    }
    assert platforms == {"exaSPIM", "SLAP2"}


def test_bundled_sample_ends_with_the_light_sheet_family_the_platform_tables_read():
    """The 400 generated records, then ``light_sheet_family()``: rows for the SmartSPIM / exaSPIM tables."""
    from biodata_cache.synthetic import SAMPLE_COUNT, light_sheet_family
    from biodata_cache.tables.platform import smartspim_fiber_ccf_rows, smartspim_qc_metrics_rows

    with gzip.open(sample_path(), "rt") as handle:
        records = [json.loads(line) for line in handle]
    family = light_sheet_family()
    assert len(records) == SAMPLE_COUNT + len(family) == 410
    assert records[SAMPLE_COUNT:] == family
    names = {r["name"] for r in records}
    assert len(names) == len(records)
    assert all(source in names for r in family for source in sources(r))
    fibers = [row for r in family for row in smartspim_fiber_ccf_rows(r)]
    # Two stitched assets with fiber probes (2 and 1 fibers); one fiber per asset annotated.
    assert len(fibers) == 3
    assert sum(row["ap"] is not None for row in fibers) == 2
    metrics = [row for r in family for row in smartspim_qc_metrics_rows(r)]
    # 3 stitched + 2 fused assets, 5 standard metrics each, plus 1/2/3 (SmartSPIM) and 1 (exaSPIM) channels.
    assert len(metrics) == 5 * 5 + 1 + 2 + 3 + 1 + 1
