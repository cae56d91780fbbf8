"""platform_smartspim / platform_exaspim: records plus a listing of each asset's storage, on a moto bucket.

Records: two real raw records (tests/data/aind_records/real/):
- v1_0219_smartspim_acq.json: name "SmartSPIM_695464_2023-10-18_20-30-30", data_description.data_level "raw",
  modality [SPIM], session.rig_id / rig.rig_id "SmartSPIM3-2", location
  "s3://aind-private-data-dev-u5u0i5/SmartSPIM_695464_2023-10-18_20-30-30";
- v1_exaspim_raw.json: name "exaSPIM_750318_2025-02-03_12-13-09", data_level "raw", modality [SPIM], rig_id
  "exaspim-01", location "s3://aind-open-data/exaSPIM_750318_2025-02-03_12-13-09_flatfield-correction_2025-02-25_17-37-11".
No public record is a stitched SmartSPIM or fused exaSPIM asset made from these, so each gets one constructed
from aind-data-schema's DataDescription for derived data: name "<raw>_stitched_<datetime>" (resp. "_fused_"),
data_level "derived", source_data [<raw name>], modalities [SPIM], location s3://<bucket>/<name>.

Bucket layout: the paths biodata-cache 0.42 checks (cache_table_helpers/platform_smartspim.py: the
CommonPrefixes of "<stitched>/image_cell_segmentation/" are the channels, and the raw asset's
"SPIM/derivatives/neuroglancer_config.json"; platform_exaspim.py: HEAD of "<raw>/neuroglancer.json", then
"<raw>/process_output.json").
"""

from __future__ import annotations

import copy
import io
import json
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biodata_cache import asset_listing as listing
from biodata_cache.store import Store
from biodata_cache.sync import update_all_tables

REAL = Path(__file__).parent / "data" / "aind_records" / "real"
SMART_RAW = "SmartSPIM_695464_2023-10-18_20-30-30"
SMART_BUCKET = "aind-private-data-dev-u5u0i5"
STITCHED = f"{SMART_RAW}_stitched_2023-10-20_01-02-03"
EXA_RAW = "exaSPIM_750318_2025-02-03_12-13-09"
EXA_LOCATION = "aind-open-data/exaSPIM_750318_2025-02-03_12-13-09_flatfield-correction_2025-02-25_17-37-11"
FUSED = f"{EXA_RAW}_fused_2025-03-01_00-00-00"
NG = "https://allen.neuroglass.io/new#!"


def _derived(raw: dict, name: str, bucket: str, marker: str) -> dict:
    """A derived record constructed from aind-data-schema's DataDescription (see the module docstring)."""
    return {
        "_id": f"constructed-{name}",
        "name": name,
        "location": f"s3://{bucket}/{name}",
        "_last_modified": marker,
        "data_description": {
            "name": name,
            "data_level": "derived",
            "source_data": [raw["name"]],
            "modalities": [{"name": "Selective plane illumination microscopy", "abbreviation": "SPIM"}],
            "subject_id": "695464",
        },
    }


def _records(tmp_path: Path, marker: str = "2025-01-01T00:00:00Z") -> Path:
    smart = json.loads((REAL / "v1_0219_smartspim_acq.json").read_text())
    exa = json.loads((REAL / "v1_exaspim_raw.json").read_text())
    records = [
        smart,
        exa,
        _derived(smart, STITCHED, SMART_BUCKET, marker),
        _derived(exa, FUSED, "aind-open-data", marker),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _bucket(s3fs_module) -> None:
    fs = s3fs_module.S3FileSystem()
    for bucket in (SMART_BUCKET, "aind-open-data"):
        fs.mkdir(bucket)
    files = [
        f"{SMART_BUCKET}/{SMART_RAW}/SPIM/derivatives/neuroglancer_config.json",
        f"{SMART_BUCKET}/{STITCHED}/neuroglancer_config.json",
        f"{SMART_BUCKET}/{STITCHED}/image_cell_segmentation/Ex_488_Em_525/visualization/neuroglancer_config.json",
        f"{SMART_BUCKET}/{STITCHED}/image_cell_segmentation/Ex_561_Em_593/visualization/neuroglancer_config.json",
        f"{EXA_LOCATION}/process_output.json",
        f"{EXA_LOCATION}/exaSPIM.zarr/.zgroup",
        # platform_exaspim_intermediates (0.42's FOLDERS: fusion/fused.zarr/, fusion/fused_ccf_ch.zarr/,
        # flatfield_correction/SPIM.ome.zarr/, denoised/SPIM.ome.zarr/): both fusions and a flatfield
        f"aind-open-data/{FUSED}/fusion/fused.zarr/.zgroup",
        f"aind-open-data/{FUSED}/fusion/fused_ccf_ch.zarr/.zgroup",
        f"aind-open-data/{FUSED}/flatfield_correction/SPIM.ome.zarr/0/.zarray",
    ]
    for path in files:
        fs.pipe(path, b"{}")


def _table(root: str, name: str) -> list[dict]:
    store = Store(root)
    registry = store.read_json("bdc-v0.1/cache_registry.json")
    (entry,) = [t for t in registry["tables"] if t["name"] == name]
    return pq.read_table(io.BytesIO(store.read_bytes(f"bdc-v0.1/{entry['path']}"))).to_pylist()


@pytest.fixture
def bucket(s3_endpoint):
    import s3fs

    _bucket(s3fs)
    return s3_endpoint


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = listing.list_prefix

    def counted(fs, path):
        calls.append(path)
        return real(fs, path)

    monkeypatch.setattr(listing, "list_prefix", counted)
    return calls


def test_smartspim_rows_name_the_channels_found_under_the_stitched_asset(bucket, s3_root, tmp_path):
    report = update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    assert report.listing_failures == {}
    rows = _table(s3_root, "platform_smartspim")
    assert [r["channel"] for r in rows] == ["Ex_488_Em_525", "Ex_561_Em_593"]
    first = rows[0]
    assert first["name"] == STITCHED and first["raw_name"] == SMART_RAW and first["processed"] is True
    location = f"s3://{SMART_BUCKET}/{STITCHED}"
    assert first["stitched_link"] == f"{NG}{location}/neuroglancer_config.json"
    assert first["segmentation_link"] == (
        f"{NG}{location}/image_cell_segmentation/Ex_488_Em_525/visualization/neuroglancer_config.json"
    )
    assert first["quantification_link"] == (
        f"{NG}{location}/image_cell_quantification/Ex_488_Em_525/visualization/neuroglancer_config.json"
    )
    assert first["raw_link"] == (
        f"{NG}s3://{SMART_BUCKET}/{SMART_RAW}/SPIM/derivatives/neuroglancer_config.json"
    )
    assert first["listing_error"] is None


def test_exaspim_row_links_the_raw_process_output_and_the_fused_asset(bucket, s3_root, tmp_path):
    update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    (row,) = _table(s3_root, "platform_exaspim")
    assert row["raw_name"] == EXA_RAW and row["name"] == FUSED and row["processed"] is True
    demo = "https://neuroglancer-demo.appspot.com/#!"
    # no neuroglancer.json at the raw location, so 0.42's second choice, process_output.json
    assert row["raw_link"] == f"{demo}s3://{EXA_LOCATION}/process_output.json"
    assert row["fused_link"] == f"{demo}s3://aind-open-data/{FUSED}"


def test_incremental_build_lists_only_changed_or_expired_assets(bucket, s3_root, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    records = _records(tmp_path)
    update_all_tables(source=str(records), root=s3_root, progress=False)
    # raw SmartSPIM (SPIM/derivatives), stitched (image_cell_segmentation), raw exaSPIM (its root), fused
    # (fusion, flatfield_correction, denoised)
    assert len(calls) == 6
    calls.clear()
    report = update_all_tables(source=str(records), root=s3_root, progress=False)
    assert calls == [] and report.assets_listed == 0
    _records(tmp_path, marker="2025-02-02T00:00:00Z")  # the two constructed records changed
    report = update_all_tables(source=str(records), root=s3_root, progress=False)
    assert sorted(calls) == [
        f"aind-open-data/{FUSED}/{folder}" for folder in ("denoised", "flatfield_correction", "fusion")
    ] + [f"{SMART_BUCKET}/{STITCHED}/image_cell_segmentation"]
    assert report.assets_listed == 2
    calls.clear()
    report = update_all_tables(source=str(records), root=s3_root, progress=False, listing_max_age_days=0)
    assert len(calls) == 6 and report.assets_listed == 4


def test_listing_failure_is_reported_and_not_published_as_no_channels(bucket, s3_root, tmp_path, monkeypatch):
    real = listing.list_prefix

    def failing(fs, path):
        if "image_cell_segmentation" in path:
            raise PermissionError("Access Denied")
        return real(fs, path)

    monkeypatch.setattr(listing, "list_prefix", failing)
    report = update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    assert list(report.listing_failures) == [STITCHED]
    (row,) = _table(s3_root, "platform_smartspim")
    assert row["channel"] is None
    assert row["listing_error"].startswith(f"{STITCHED}: StoreAccessError")
    # the failed asset is listed again by the next build
    monkeypatch.setattr(listing, "list_prefix", real)
    report = update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    assert report.listing_failures == {} and report.assets_listed == 1
    assert [r["channel"] for r in _table(s3_root, "platform_smartspim")] == ["Ex_488_Em_525", "Ex_561_Em_593"]


def test_an_asset_whose_location_does_not_exist_is_a_listing_failure_not_no_outputs(
    bucket, s3_root, tmp_path
):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.rm(f"{SMART_BUCKET}/{STITCHED}", recursive=True)  # the stitched asset's data is gone
    report = update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    assert list(report.listing_failures) == [STITCHED]
    assert "location does not exist" in report.listing_failures[STITCHED]
    (row,) = _table(s3_root, "platform_smartspim")
    assert row["channel"] is None and "location does not exist" in row["listing_error"]


def test_many_assets_are_listed_concurrently_by_bounded_workers(bucket):
    import s3fs

    fs = s3fs.S3FileSystem()
    requests = []
    for i in range(24):
        fs.pipe(f"aind-open-data/asset_{i}/image_cell_segmentation/Ex_{i}/x", b"")
        location = f"s3://aind-open-data/asset_{i}"
        requests.append(listing.Request(str(i), f"asset_{i}", location, None, ("image_cell_segmentation",)))
    active, peak, lock = [0], [0], threading.Lock()

    def slow(fs, path):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return listing.list_prefix(fs, path)
        finally:
            with lock:
                active[0] -= 1

    result = listing.list_assets(requests, {}, max_age=listing.resolve_max_age(None), workers=4, lister=slow)
    assert result.listed == 24 and not result.failures
    assert 1 < peak[0] <= 4
    assert result.by_name["asset_7"].names("image_cell_segmentation") == ["Ex_7"]


def test_listing_max_age_is_checked(monkeypatch):
    monkeypatch.setenv(listing.MAX_AGE_ENV, "soon")
    with pytest.raises(Exception, match="BIODATA_CACHE_LISTING_MAX_AGE_DAYS='soon'"):
        listing.resolve_max_age(None)
    assert listing.resolve_max_age(2).days == 2


def test_unchanged_records_keep_their_listing_state(bucket, s3_root, tmp_path):
    update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    kept = listing.read_state(Store(s3_root), "bdc-v0.1")
    state = copy.deepcopy({k: v.entries for k, v in kept.items()})
    assert state[f"constructed-{STITCHED}"] == {"image_cell_segmentation": ["Ex_488_Em_525", "Ex_561_Em_593"]}


def test_exaspim_intermediates_row_says_which_output_folders_exist(bucket, s3_root, tmp_path):
    update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    (row,) = _table(s3_root, "platform_exaspim_intermediates")
    # raw_name / subject_id from v1_exaspim_raw.json (name; subject.subject_id "750318")
    assert (row["raw_name"], row["subject_id"], row["name"]) == (EXA_RAW, "750318", FUSED)
    assert row["docdb_id"] == f"constructed-{FUSED}" and row["discovery_source"] == "docdb"
    assert (row["fused_present"], row["fused_ccf_present"]) == (True, True)
    assert (row["flatfield_present"], row["denoised_present"]) == (True, False)
    assert row["status"] == "ok" and row["eligible_for_cleanup"] is True
    flatfield = f"s3://aind-open-data/{FUSED}/flatfield_correction/SPIM.ome.zarr/"
    assert row["intermediate_uris"] == [flatfield] and row["output_uris"] == [flatfield]
    assert row["missing_required_folders"] == [] and row["checked_at"] is not None


def test_exaspim_intermediates_listing_failure_is_an_s3_error_row(bucket, s3_root, tmp_path, monkeypatch):
    real = listing.list_prefix

    def failing(fs, path):
        if path.endswith("/fusion"):
            raise ConnectionResetError("reset by peer")
        return real(fs, path)

    monkeypatch.setattr(listing, "list_prefix", failing)
    report = update_all_tables(source=str(_records(tmp_path)), root=s3_root, progress=False)
    assert FUSED in report.listing_failures
    (row,) = _table(s3_root, "platform_exaspim_intermediates")
    assert row["status"] == "s3_error" and row["error_code"] == "StoreUnavailableError"
    assert row["fused_present"] is None and row["has_intermediates"] is None


def test_a_build_that_does_not_list_says_so_in_every_row_that_needed_a_listing(bucket, s3_root, tmp_path):
    report = update_all_tables(
        source=str(_records(tmp_path)), root=s3_root, progress=False, list_storage=False
    )
    assert sorted(report.listing_failures) == sorted([SMART_RAW, STITCHED, EXA_RAW, FUSED])
    (exa,) = _table(s3_root, "platform_exaspim")
    assert exa["raw_link"] is None and exa["listing_error"].startswith(f"{EXA_RAW}: NotListed")
    (row,) = _table(s3_root, "platform_exaspim_intermediates")
    assert row["status"] == "not_listed" and row["fused_present"] is None
    assert all(r["listing_error"] for r in _table(s3_root, "platform_smartspim"))


def test_raw_labelled_stitched_smartspim_record_is_an_unprocessed_raw_row(bucket, s3_root, tmp_path):
    # v1_smartspim_stitched_labelled_raw.json: name
    # "SmartSPIM_654092_2023-01-26_10-45-12_stitched_2023-02-02_21-58-54",
    # data_description.data_level "raw", rig_id "SmartSPIM2-1", no input_data_name: 0.42 selects it as a raw
    # SmartSPIM asset (asset_basics data_level raw) with no stitched descendant. Its location exists but
    # holds no SPIM/derivatives folder: an absent folder lists as empty (no raw_link), which is not a
    # listing error (a location that does not exist at all is one, tested above).
    import s3fs

    record = json.loads((REAL / "v1_smartspim_stitched_labelled_raw.json").read_text())
    s3fs.S3FileSystem().pipe(f"{record['location'].removeprefix('s3://')}/data_description.json", b"{}")
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n")
    report = update_all_tables(source=str(path), root=s3_root, progress=False)
    assert report.listing_failures == {} and report.assets_listed == 1
    (row,) = _table(s3_root, "platform_smartspim")
    assert row["name"] == row["raw_name"] == record["name"]
    assert row["processed"] is False and row["raw_link"] is None and row["listing_error"] is None


def test_listing_storage_options_anonymous_by_argument_or_variable(monkeypatch):
    location = "s3://aind-open-data/SmartSPIM_1"
    assert listing.resolve_options(location, {"anon": True})["anon"] is True
    assert listing.resolve_options(location, None)["anon"] is False  # test credentials are configured
    monkeypatch.setenv(listing.ANON_ENV, "1")
    assert listing.resolve_options(location, None)["anon"] is True
    assert listing.resolve_options(location, {"key": "k", "secret": "s"}).get("anon") is None
