"""Filtered reads of asset_basics and source_data on S3 fetch only the row groups that can match."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache import clustered, parquet_ranges
from biodata_cache.store import Store
from biodata_cache.tables import TABLES_BY_NAME

ROW_GROUP_ROWS = 128
SUBJECTS = 400
ODD_NAMES = ["weird asset", "ecephys_999999_2024-05-01_10-00-00", "no-date_600010"]


def _assets() -> tuple[list[dict], list[dict]]:
    """About 2,000 assets of 400 subjects (raw and derived, names embedding the subject), 40 projects in
    blocks of subjects, and rows whose names break the convention or have no subject."""
    assets, lineage = [], []
    for s in range(SUBJECTS):
        subject = str(600000 + s)
        project = f"project {s // 10}"
        for d in range(1 + s % 4):
            raw = f"ecephys_{subject}_2024-01-{d + 1:02d}_10-00-00"
            derived = f"{raw}_sorted_2024-02-01_00-00-00"
            for name in (raw, derived):
                assets.append(
                    {
                        "_id": name,
                        "name": name,
                        "subject_id": subject,
                        "project_name": project,
                        "data_level": "raw" if name == raw else "derived",
                        "modalities": ["ecephys"],
                    }
                )
            lineage.append({"name": derived, "source_data": raw, "pipeline_name": "sort", "_id": derived})
    odd = [
        {"_id": "o1", "name": ODD_NAMES[0], "subject_id": "600005", "project_name": "project 0"},
        {"_id": "o2", "name": ODD_NAMES[1], "subject_id": "600300", "project_name": "project 30"},
        {"_id": "o3", "name": ODD_NAMES[2], "subject_id": None, "project_name": "project 1"},
    ]
    # Derived assets that name no source (two row groups of nulls at the end of source_data).
    orphans = [{"name": f"orphan {i}", "source_data": None, "_id": f"orphan {i}"} for i in range(300)]
    return assets + odd, lineage + orphans


@pytest.fixture
def many_assets(s3_root, monkeypatch):
    """S3 store with the assets published in row groups of 128 rows; returns (asset rows, lineage)."""
    monkeypatch.setattr(clustered, "ROW_GROUP_ROWS", ROW_GROUP_ROWS)
    monkeypatch.setattr(parquet_ranges, "FOOTER_GUESS", 4096)  # the footer takes a second GET when cold
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    assets, lineage = _assets()
    publish_fixture(s3_root, rows={"asset_basics": assets, "source_data": lineage})
    return assets, lineage


class RequestCounter:
    """Counts the S3 requests of a block and the bytes of the GET responses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import s3fs

        self.calls: list[str] = []
        self.keys: list[str] = []  # the object of each request (sent, answered or not)
        self.bytes = 0
        original = s3fs.S3FileSystem._call_s3

        async def counting(fs, method, *args, **kwargs):
            self.keys.append(str(kwargs.get("Key", "")).rsplit("/", 1)[-1])
            response = await original(fs, method, *args, **kwargs)
            self.calls.append(method)
            if method == "get_object":
                self.bytes += int(response.get("ContentLength") or 0)
            return response

        monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counting)

    def reset(self) -> None:
        self.calls.clear()
        self.keys.clear()
        self.bytes = 0


def _file(s3_root: str, table: str) -> bytes:
    store = Store(s3_root)
    (path,) = [p for p in store.find("bdc-v0.1") if p.startswith(f"{table}-") and p.endswith(".pqt")]
    return store.read_bytes(f"bdc-v0.1/{path}")


def _expected(assets: list[dict], column: str, values: list) -> list[str]:
    return sorted(a["name"] for a in assets if a[column] in values)


CASES = [
    ("subject_id", ["600123"]),  # one subject
    ("subject_id", ["600005"]),  # a subject with a name that breaks the convention
    ("subject_id", ["600000", "600399", "700000"]),  # first and last row groups, and an absent value
    ("subject_id", ["600010", "600060"]),  # row groups 0 and 2: a gap of one small row group
    ("project_name", ["project 7"]),
    ("project_name", ["project 0", "project 39"]),
    ("name", ["ecephys_600200_2024-01-01_10-00-00"]),
    ("name", ["ecephys_600203_2024-01-04_10-00-00_sorted_2024-02-01_00-00-00"]),  # derived
    ("name", ODD_NAMES),  # names that do not give their subject
    ("name", ["ecephys_600500_2024-01-01_10-00-00"]),  # absent
]


@pytest.mark.parametrize(("column", "values"), CASES)
def test_filtered_asset_basics_on_s3_returns_a_whole_reads_rows_and_warm_costs_two_requests(
    many_assets, monkeypatch, s3_root, column, values
):
    assets, _ = many_assets
    argument = {column: values if len(values) > 1 else values[0]}
    absent = [v for v in values if v not in {a[column] for a in assets}]
    if absent:  # the answer is right, and the values not in the table are warned about
        with pytest.warns(bdc.NoMatchWarning):
            frame = bdc.asset_basics(**argument)
        assert sorted(frame["name"]) == _expected(assets, column, values)
        return
    size = len(_file(s3_root, "asset_basics"))
    cold = bdc.asset_basics(**argument)  # the catalog, the footer (two suffix GETs here), the row groups
    assert sorted(cold["name"]) == _expected(assets, column, values)
    assert cold["name"].tolist() == sorted(cold["name"])
    catalog = _catalog_bytes(s3_root)
    counter = RequestCounter(monkeypatch)
    frame = bdc.asset_basics(**argument)
    assert frame.equals(cold)
    assert counter.calls[1:] == ["get_object"] * (len(counter.calls) - 1)  # no HEAD, no LIST
    assert 2 <= len(counter.calls) <= 1 + parquet_ranges.MAX_RANGE_GETS  # the catalog, the row groups
    assert counter.bytes - catalog < 0.2 * size, (counter.bytes - catalog, size)


def _catalog_bytes(s3_root: str) -> int:
    return len(Store(s3_root).read_bytes("bdc-v0.1/catalog.yaml"))


def test_one_subject_reads_one_or_two_row_groups_of_many(many_assets, monkeypatch, s3_root):
    size = len(_file(s3_root, "asset_basics"))
    bdc.asset_basics(subject_id="600123")
    catalog = _catalog_bytes(s3_root)
    counter = RequestCounter(monkeypatch)
    bdc.asset_basics(subject_id="600124")
    assert counter.calls == ["get_object", "get_object"]
    assert counter.bytes - catalog < 0.05 * size


def test_a_name_not_in_the_table_is_warned_with_its_subjects_names_read_by_row_groups(
    many_assets, monkeypatch, s3_root
):
    """A name absent from asset_basics: the warning suggests the names of the subject it embeds, and
    finding them reads that subject's row groups, not the whole name column."""
    metadata = pq.read_metadata(pa.BufferReader(_file(s3_root, "asset_basics")))
    name_column = metadata.schema.names.index("name")
    whole_column = sum(
        metadata.row_group(g).column(name_column).total_compressed_size
        for g in range(metadata.num_row_groups)
    )
    bdc.asset_basics(subject_id="600124")  # the catalog and the footer are kept
    counter = RequestCounter(monkeypatch)
    assert len(bdc.asset_basics(name="ecephys_600123_2024-01-04_10-00-00")) == 1  # the same row groups
    found = counter.bytes
    counter.reset()
    with pytest.warns(bdc.NoMatchWarning) as caught:
        assert bdc.asset_basics(name="ecephys_600123_2024-01-09_10-00-00").empty
    (message,) = [str(w.message) for w in caught]
    assert "did you mean 'ecephys_600123_2024-01-04_10-00-00'" in message
    assert "the assets of subject '600123'" in message
    # the two reads of the warning: the name's row groups and the subject's, one column each
    assert counter.calls == ["get_object"] * 6
    catalogs = counter.keys.count("catalog.yaml") - 1
    assert counter.bytes - found - catalogs * _catalog_bytes(s3_root) < whole_column / 2


def test_cold_filtered_read_sends_no_head(many_assets, monkeypatch):
    parquet_ranges._FOOTERS.clear()
    counter = RequestCounter(monkeypatch)
    assert len(bdc.asset_basics(subject_id="600123")) == 8
    # catalog, footer suffix (too short at 4 kB), footer again, the row group(s)
    assert counter.calls == ["get_object"] * 4


def test_asset_basics_file_is_sorted_clustered_and_readable_by_duckdb_and_pandas(
    many_assets, s3_root, tmp_path
):
    assets, _ = many_assets
    data = _file(s3_root, "asset_basics")
    file = pq.ParquetFile(io.BytesIO(data))
    assert file.metadata.num_row_groups == -(-len(assets) // ROW_GROUP_ROWS)
    table = file.read()
    keys = list(zip(table.column("subject_id").to_pylist(), table.column("name").to_pylist(), strict=True))
    present = [k for k in keys if k[0] is not None]
    assert present == sorted(present) and keys[len(present) :] == [(None, ODD_NAMES[2])]  # nulls last
    local = tmp_path / "asset_basics.pqt"
    local.write_bytes(data)
    import duckdb
    import pandas as pd

    count = duckdb.sql(
        f"select count(*) from read_parquet('{local}', hive_partitioning=true) where subject_id = '600123'"
    ).fetchall()
    assert count == [(8,)]
    assert len(pd.read_parquet(local)) == len(assets)


def test_source_data_file_is_sorted_by_source(many_assets, s3_root):
    _, lineage = many_assets
    table = pq.read_table(io.BytesIO(_file(s3_root, "source_data")))
    sources = table.column("source_data").to_pylist()
    present = [s for s in sources if s is not None]
    assert sources == present + [None] * 300 and present == sorted(present) and len(sources) == len(lineage)


def test_raw_to_derived_warm_is_two_requests(many_assets, monkeypatch):
    raw = "ecephys_600201_2024-01-02_10-00-00"
    assert bdc.raw_to_derived(raw) == [f"{raw}_sorted_2024-02-01_00-00-00"]
    counter = RequestCounter(monkeypatch)
    assert bdc.raw_to_derived(raw) == [f"{raw}_sorted_2024-02-01_00-00-00"]
    assert counter.calls == ["get_object", "get_object"]  # the catalog, source_data's row group


def test_raw_to_derived_with_modality_or_without_derived_assets_is_at_most_four_requests(
    many_assets, monkeypatch
):
    derived = "ecephys_600201_2024-01-02_10-00-00_sorted_2024-02-01_00-00-00"
    bdc.raw_to_derived(derived)  # an asset without derived assets: looked up in asset_basics by name
    counter = RequestCounter(monkeypatch)
    assert bdc.raw_to_derived(derived) == []
    # catalog, source_data's row group (if its statistics can hold the name), asset_basics by name
    assert counter.calls[-1:] == ["get_object"] and set(counter.calls) == {"get_object"}
    assert len(counter.calls) <= 3
    with pytest.raises(bdc.TableNotFoundError):
        bdc.raw_to_derived("ecephys_600201_2030-01-02_10-00-00")


def test_ranged_read_of_a_file_removed_by_a_publish_follows_the_registry(many_assets, s3_root):
    from biodata_cache import config, readers

    assets, lineage = many_assets
    bdc.asset_basics(subject_id="600123")  # the footer of the first release is kept
    settings = config.resolve()
    source = readers.open_source_entry("asset_basics", settings, filters=[("subject_id", "==", "600123")])
    moved = [dict(a, project_name="moved") if a["subject_id"] == "600123" else a for a in assets]
    publish_fixture(s3_root, rows={"asset_basics": moved, "source_data": lineage})  # removes the old file
    table = readers._read_source(source, "asset_basics", settings)  # its range GET is a 404
    assert source.followed_release
    assert set(table.column("project_name").to_pylist()) == {"moved"}
    assert table.num_rows == 8


def test_row_groups_to_read_falls_back_to_every_row_group_without_an_index(monkeypatch):
    assets, _ = _assets()
    table = TABLES_BY_NAME["asset_basics"]
    monkeypatch.setattr(clustered, "MAX_INDEX_BYTES", 10)
    from biodata_cache.publish import rows_to_arrow

    data = clustered.parquet_bytes(table, rows_to_arrow(table, assets), row_group_rows=ROW_GROUP_ROWS)
    metadata = pq.read_metadata(pa.BufferReader(data))
    every = list(range(metadata.num_row_groups))
    names = _sorted_names(data)
    projects = pq.read_table(pa.BufferReader(data), columns=["project_name"]).column(0).to_pylist()
    holding = {i // ROW_GROUP_ROWS for i, p in enumerate(projects) if p == "project 7"}
    chosen = clustered.row_groups_to_read(metadata, [("project_name", "==", "project 7")])
    assert holding <= set(chosen) and len(chosen) < len(every)  # by the row-group statistics
    holding = {i // ROW_GROUP_ROWS for i, a in enumerate(names) if a == ODD_NAMES[0]}
    assert holding <= set(clustered.row_groups_to_read(metadata, [("name", "==", ODD_NAMES[0])]))
    assert len(clustered.row_groups_to_read(metadata, [("subject_id", "==", "600123")])) == 1


def _sorted_names(data: bytes) -> list[str]:
    return pq.read_table(pa.BufferReader(data), columns=["name"]).column("name").to_pylist()


def test_a_build_writes_asset_basics_and_source_data_in_the_declared_order_with_the_index(
    tmp_path, monkeypatch
):
    import json

    from biodata_cache.sync import update_all_tables

    monkeypatch.setattr(clustered, "ROW_GROUP_ROWS", 64)
    update_all_tables(source="sample", root=str(tmp_path), progress=False)
    folder = tmp_path / "bdc-v0.1"
    for name, keys in (("asset_basics", ["subject_id", "name"]), ("source_data", ["source_data", "name"])):
        (path,) = folder.glob(f"{name}-*.pqt")
        file = pq.ParquetFile(path)
        table = file.read()
        rows = list(zip(*(table.column(k).to_pylist() for k in keys), strict=True))
        present = [r for r in rows if r[0] is not None]
        assert rows[: len(present)] == present == sorted(present)
        assert all(r[0] is None for r in rows[len(present) :])
        assert file.metadata.num_row_groups == -(-table.num_rows // 64)
        assert TABLES_BY_NAME[name].clustered_by == tuple(keys)
    index = json.loads(
        pq.read_metadata(next(folder.glob("asset_basics-*.pqt"))).metadata[clustered.INDEX_METADATA]
    )
    assert index["row_group_rows"] == 64 and "project_name" in index["columns"] and "names" in index


def test_a_small_file_filtered_cold_is_one_get_its_footer_read_brings_it_whole(s3_root, monkeypatch):
    from helpers import ROWS

    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    publish_fixture(s3_root)
    subject = next(r["subject_id"] for r in ROWS["asset_basics"] if r.get("subject_id"))
    expected = sorted(r["name"] for r in ROWS["asset_basics"] if r.get("subject_id") == subject)
    parquet_ranges._FOOTERS.clear()
    counter = RequestCounter(monkeypatch)
    assert sorted(bdc.asset_basics(subject_id=subject)["name"]) == expected
    assert counter.calls == ["get_object", "get_object"]  # the catalog, the file's last 256 kB: all of it


def test_raw_to_derived_with_a_modality_warm_is_three_requests(many_assets, monkeypatch):
    raw = "ecephys_600201_2024-01-02_10-00-00"
    assert bdc.raw_to_derived(raw, modality="ECEPHYS") == [f"{raw}_sorted_2024-02-01_00-00-00"]
    counter = RequestCounter(monkeypatch)
    assert bdc.raw_to_derived(raw, modality="ecephys") == [f"{raw}_sorted_2024-02-01_00-00-00"]
    # the catalog, source_data's row group, the names' row group of asset_basics (their subject's)
    assert counter.calls == ["get_object"] * 3


def test_anonymous_filtered_reads_of_a_public_bucket_go_by_ranges_too(
    many_assets, monkeypatch, s3_root, s3_endpoint, tmp_path
):
    """Without credentials the stdlib client (s3_http) reads: the footer and row groups by ranges."""
    from helpers import make_bucket_public

    from biodata_cache.s3_http import AnonymousS3Reader

    assets, _ = many_assets
    size = len(_file(s3_root, "asset_basics"))
    make_bucket_public(s3_endpoint, s3_root.split("/")[2])
    options = {"anon": True, "endpoint_url": s3_endpoint}
    requests: list[tuple[str, str | None, int]] = []
    original = AnonymousS3Reader._request

    def counting(reader, url, headers):
        status, response_headers, body = original(reader, url, headers)
        requests.append((url.rsplit("/", 1)[-1], headers.get("Range"), len(body)))
        return status, response_headers, body

    monkeypatch.setattr(AnonymousS3Reader, "_request", counting)
    bdc.asset_basics(subject_id="600124", storage_options=options)  # cold: catalog, footer, row groups
    assert any(spec and spec.startswith("bytes=-") for _, spec, _ in requests)  # the footer: a suffix range
    requests.clear()
    frame = bdc.asset_basics(subject_id="600123", storage_options=options)
    assert sorted(frame["name"]) == _expected(assets, "subject_id", ["600123"])
    assert len(requests) == 2 and requests[0][0] == "catalog.yaml" and requests[1][1] is not None
    assert requests[1][2] < 0.05 * size


@pytest.mark.parametrize("kind", ["503", "reset", "short", "truncated"])
@pytest.mark.parametrize("client", ["s3fs", "anonymous"])
def test_a_fault_on_a_row_group_get_is_retried_and_the_answer_is_right(
    many_assets, s3_root, s3_endpoint, client, kind
):
    """A ranged GET that fails once (server error, reset, a body cut short) is sent again, through
    either S3 client; the answer is never short of rows."""
    from fault_proxy import Fault, FaultProxy
    from helpers import make_bucket_public

    assets, _ = many_assets
    expected = _expected(assets, "subject_id", ["600123"])
    bdc.asset_basics(
        subject_id="600124"
    )  # the footer is now kept: the faulted call's one file GET is a range
    config = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 3}}
    if client == "anonymous":
        make_bucket_public(s3_endpoint, s3_root.split("/")[2])
    with FaultProxy(s3_endpoint, [Fault(kind, method="GET", pattern=r"asset_basics-", times=1)]) as proxy:
        options = {"endpoint_url": proxy.url, "config_kwargs": config}
        if client == "anonymous":
            options["anon"] = True
        frame = bdc.asset_basics(subject_id="600123", storage_options=options)
        assert proxy.injected == {kind: 1}
    assert sorted(frame["name"]) == expected


# -- the projection of asset_basics by project_name -----------------------------------------------------


def _projection(s3_root: str) -> tuple[str, bytes]:
    """Name and bytes of the release's projection of asset_basics by project_name."""
    store = Store(s3_root)
    (path,) = [p for p in store.find("bdc-v0.1") if p.startswith("_projections/")]
    return path.rsplit("/", 1)[-1], store.read_bytes(f"bdc-v0.1/{path}")


def _project_bytes(data: bytes, project: str) -> int:
    """Bytes of the row groups of a projection whose statistics can hold ``project`` (every column),
    with the gaps between them: what a read of that project must fetch."""
    metadata = pq.read_metadata(pa.BufferReader(data))
    groups = clustered.row_groups_to_read(metadata, [("project_name", "==", project)])
    spans = [parquet_ranges._chunk_span(metadata, g, list(range(metadata.num_columns))) for g in groups]
    merged = parquet_ranges._merged(spans, parquet_ranges.MAX_RANGE_GETS)
    return sum(end - start for start, end in merged)


def test_the_projection_is_cut_in_row_groups_sized_to_the_file_so_a_project_reads_about_its_share(
    many_assets, s3_root
):
    """~2,000 rows in 32 row groups (not 16 of the file's 128 rows): a project of 50 rows (2.5%) spans one
    or two of them, at most 2/32 of the projection's bytes."""
    _, data = _projection(s3_root)
    metadata = pq.read_metadata(pa.BufferReader(data))
    assert metadata.num_row_groups == clustered.PROJECTION_ROW_GROUPS
    assert metadata.row_group(0).num_rows == clustered.projection_row_group_rows(metadata.num_rows) == 63
    assert _project_bytes(data, "project 7") < 2.5 / clustered.PROJECTION_ROW_GROUPS * len(data)


def test_asset_basics_of_one_project_reads_only_its_row_groups_of_the_projection_on_s3(
    many_assets, monkeypatch, s3_root
):
    assets, _ = many_assets
    name, data = _projection(s3_root)
    size = len(_file(s3_root, "asset_basics"))
    metadata = pq.read_metadata(pa.BufferReader(data))
    groups = clustered.row_groups_to_read(metadata, [("project_name", "==", "project 7")])
    assert 1 <= len(groups) <= 2 < metadata.num_row_groups  # 50 rows of ~2,000, in groups of 63
    parquet_ranges._FOOTERS.clear()
    counter = RequestCounter(monkeypatch)
    cold = bdc.asset_basics(project_name="project 7")
    assert sorted(cold["name"]) == _expected(assets, "project_name", ["project 7"])
    # the catalog, the projection's footer (two suffix GETs at 4 kB here), its row groups; not the file
    assert counter.keys[1:3] == [name, name] and set(counter.keys[3:]) == {name}
    assert counter.calls == ["get_object"] * len(counter.calls) and len(counter.calls) <= 5
    counter.reset()
    warm = bdc.asset_basics(project_name="project 7")
    assert warm.equals(cold)
    assert counter.keys == ["catalog.yaml", name]  # the catalog, the project's row group(s) in one GET
    assert counter.bytes - _catalog_bytes(s3_root) == _project_bytes(data, "project 7") < 0.15 * size


def test_asset_basics_by_project_answers_as_the_file_does(many_assets, monkeypatch):
    """The projection's answer has the rows, columns and order of the table's file, for one project,
    several, and with other filters (read from the projection too)."""
    calls = [
        {"project_name": "project 7"},
        {"project_name": ["project 39", "project 0", "project 1"]},
        {"project_name": ["project 0", "project 30"], "columns": ["name", "_id"]},
        {"project_name": "project 3", "data_level": "raw", "columns": ["_id", "subject_id"]},
        {"project_name": "project 3", "subject_id": "600031"},  # the file's subject order: the file
        {"project_name": "project 30", "name": ODD_NAMES[1]},  # names: the file
    ]
    projected = [bdc.asset_basics(**arguments) for arguments in calls]
    monkeypatch.setattr(clustered, "projection_for", lambda table, filters: None)
    for arguments, answer in zip(calls, projected, strict=True):
        expected = bdc.asset_basics(**arguments)
        assert len(expected) > 0 and answer.equals(expected), arguments


def test_a_read_with_a_project_and_a_subject_or_name_reads_the_file(many_assets, monkeypatch, s3_root):
    """Filters the file finds in one or two row groups keep reading the file, not the projection."""
    bdc.asset_basics(project_name="project 3", subject_id="600031")
    bdc.asset_basics(project_name="project 30", name=ODD_NAMES[1])
    counter = RequestCounter(monkeypatch)
    assert len(bdc.asset_basics(project_name="project 3", subject_id="600031")) == 8
    assert len(bdc.asset_basics(project_name="project 30", name=ODD_NAMES[1])) == 1
    assert not any(key.startswith("asset_basics-by-") for key in counter.keys)
    assert sum(key.startswith("asset_basics-") for key in counter.keys) == 2


def test_a_release_without_a_projection_reads_the_file_and_asks_once(many_assets, monkeypatch, s3_root):
    """A release written before projections (here: its projection deleted) answers from the file; the
    missing projection costs one request per process and release."""
    assets, _ = many_assets
    name, _ = _projection(s3_root)
    Store(s3_root).delete_many([f"bdc-v0.1/_projections/{name}"])
    parquet_ranges._FOOTERS.clear()
    counter = RequestCounter(monkeypatch)
    frame = bdc.asset_basics(project_name="project 7")
    assert sorted(frame["name"]) == _expected(assets, "project_name", ["project 7"])
    assert counter.keys.count(name) == 1  # the suffix GET of its footer: a 404
    counter.reset()
    assert bdc.asset_basics(project_name="project 8")["name"].tolist()
    assert name not in counter.keys and counter.keys[0] == "catalog.yaml"
    assert all(key.startswith("asset_basics-2") for key in counter.keys[1:])


def test_a_projection_removed_by_a_publish_follows_the_registry(many_assets, s3_root):
    from biodata_cache import config, readers

    assets, lineage = many_assets
    bdc.asset_basics(project_name="project 12")  # the footer of the first release's projection is kept
    settings = config.resolve()
    source = readers.open_source_entry(
        "asset_basics", settings, filters=[("project_name", "==", "project 12")]
    )
    moved = [dict(a, name=f"{a['name']} v2") if a["project_name"] == "project 12" else a for a in assets]
    publish_fixture(s3_root, rows={"asset_basics": moved, "source_data": lineage})  # removes the old files
    table = readers._read_source(source, "asset_basics", settings)  # its range GETs are 404s
    assert source.followed_release
    expected = sorted(a["name"] for a in moved if a["project_name"] == "project 12")
    assert sorted(table.column("name").to_pylist()) == expected and all(n.endswith(" v2") for n in expected)


def test_the_projection_is_in_the_registry_not_the_catalog_nor_the_documented_globs(tmp_path):
    """A build names its projection in the registry entry (so the commit and the clean-up handle it like
    the table's file), and DuckDB's documented globs and pandas read every row once."""
    import json

    import duckdb
    import pandas as pd

    from biodata_cache.sync import update_all_tables

    update_all_tables(source="sample", root=str(tmp_path), progress=False)
    folder = tmp_path / "bdc-v0.1"
    registry = json.loads((folder / "cache_registry.json").read_text())
    entry = next(t for t in registry["tables"] if t["name"] == "asset_basics")
    (projection,) = (folder / "_projections").iterdir()
    assert entry["projections"] == {"project_name": f"_projections/{projection.name}"}
    assert projection.name == f"asset_basics-by-project_name-{entry['build']}.pqt"
    assert all("projections" not in t for t in registry["tables"] if t["name"] != "asset_basics")
    assert "_projections" not in (folder / "catalog.yaml").read_text()
    rows = entry["rows"]
    assert rows > 0 and pq.read_metadata(projection).num_rows == rows
    glob = f"{folder}/asset_basics-*.pqt"
    assert duckdb.sql(f"select count(*), count(distinct _id) from read_parquet('{glob}')").fetchall() == [
        (rows, rows)
    ]
    qc = duckdb.sql(
        f"select count(*) from read_parquet('{folder}/qc/*/*.pqt', hive_partitioning = true, "
        "hive_types = {'subject_id': VARCHAR})"
    ).fetchall()
    assert qc == [(next(t["rows"] for t in registry["tables"] if t["name"] == "qc"),)]
    (path,) = folder.glob("asset_basics-*.pqt")
    frame = pd.read_parquet(path)
    assert len(frame) == rows and frame["_id"].is_unique
    assert len(pd.read_parquet(folder / "qc")) == qc[0][0]
    # The projection holds the same rows, ordered by project.
    copy = pq.read_table(projection)
    assert sorted(copy.column("_id").to_pylist()) == sorted(frame["_id"])
    projects = copy.column("project_name").to_pylist()
    present = [p for p in projects if p is not None]
    assert present == sorted(present) and projects[len(present) :] == [None] * (len(projects) - len(present))


def test_a_second_build_replaces_the_projection_and_cleanup_removes_a_stray_one(tmp_path):
    import json

    from biodata_cache.registry import read_registry
    from biodata_cache.release import remove_unreferenced
    from biodata_cache.sync import update_all_tables

    update_all_tables(source="sample", root=str(tmp_path), progress=False)
    update_all_tables(source="sample", root=str(tmp_path), progress=False, full=True)
    folder = tmp_path / "bdc-v0.1"
    registry = json.loads((folder / "cache_registry.json").read_text())
    entry = next(t for t in registry["tables"] if t["name"] == "asset_basics")
    assert sorted(p.name for p in (folder / "_projections").iterdir()) == [
        entry["projections"]["project_name"].rsplit("/", 1)[-1]
    ]
    stray = folder / "_projections" / "asset_basics-by-project_name-20200101T000000Z-0badc0de.pqt"
    stray.write_bytes(b"left by a killed build")
    store = Store(str(tmp_path))
    assert remove_unreferenced(store, "bdc-v0.1", read_registry(store, "bdc-v0.1")) == 1
    assert not stray.exists() and len(list((folder / "_projections").iterdir())) == 1


def test_a_registry_entry_keeps_its_projections_and_entries_without_have_no_key():
    from biodata_cache.registry import CacheTable

    entry = {
        "name": "asset_basics",
        "description": "",
        "location": "memory://x",
        "path": "asset_basics-b.pqt",
        "partitioned": False,
        "partition_key": None,
        "type": "frame",
        "columns": [],
        "rows": 1,
        "built_at": "",
        "source": "",
        "build": "b",
        "projections": {"project_name": "_projections/asset_basics-by-project_name-b.pqt"},
    }
    table = CacheTable.from_dict(entry)
    assert (
        table.projections == entry["projections"] and table.to_json()["projections"] == entry["projections"]
    )
    bare = CacheTable.from_dict({k: v for k, v in entry.items() if k != "projections"})
    assert bare.projections == {} and "projections" not in bare.to_json()
    with pytest.raises(bdc.InvalidInputError, match="projections"):
        CacheTable.from_dict({**entry, "projections": {"project_name": 1}})


# -- local stores -------------------------------------------------------------------------------------


@pytest.fixture
def local_assets(tmp_path, monkeypatch):
    """A local store with the assets published in row groups of 128 rows; returns (asset rows, root)."""
    monkeypatch.setattr(clustered, "ROW_GROUP_ROWS", ROW_GROUP_ROWS)
    root = str(tmp_path / "store")
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    monkeypatch.delenv("BIODATA_CACHE_BACKEND", raising=False)
    assets, lineage = _assets()
    publish_fixture(root, rows={"asset_basics": assets, "source_data": lineage})
    return assets, root


class RowGroupSpy:
    """Records which file and row groups each ``ParquetFile.read_row_groups`` decodes, and refuses
    whole-file reads of asset_basics (``LocalReader.get``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from biodata_cache.store import LocalReader

        self.reads: list[tuple[int, list[int]]] = []  # (row groups of the file, row groups read)
        original = pq.ParquetFile.read_row_groups
        whole = LocalReader.get

        def read_row_groups(file, row_groups, *args, **kwargs):
            self.reads.append((file.metadata.num_row_groups, list(row_groups)))
            return original(file, row_groups, *args, **kwargs)

        def get(reader, path):
            assert "asset_basics" not in path, f"{path} was read whole"
            return whole(reader, path)

        monkeypatch.setattr(pq.ParquetFile, "read_row_groups", read_row_groups)
        monkeypatch.setattr(LocalReader, "get", get)


def test_a_local_filtered_read_decodes_only_the_chosen_row_groups(local_assets, monkeypatch):
    assets, _ = local_assets
    spy = RowGroupSpy(monkeypatch)
    frame = bdc.asset_basics(subject_id="600123")
    assert sorted(frame["name"]) == _expected(assets, "subject_id", ["600123"])
    ((groups, read),) = spy.reads
    assert len(read) == 1 and groups == -(-len(assets) // ROW_GROUP_ROWS)
    spy.reads.clear()
    frame = bdc.asset_basics(name=ODD_NAMES)
    assert sorted(frame["name"]) == sorted(ODD_NAMES)
    assert len(spy.reads) == 1 and len(spy.reads[0][1]) <= 4


def test_a_local_project_read_decodes_the_projection_s_row_groups_of_that_project(local_assets, monkeypatch):
    assets, root = local_assets
    (projection,) = (Path(root) / "bdc-v0.1" / "_projections").iterdir()
    metadata = pq.read_metadata(projection)
    holding = clustered.row_groups_to_read(metadata, [("project_name", "==", "project 7")])
    spy = RowGroupSpy(monkeypatch)
    frame = bdc.asset_basics(project_name="project 7")
    assert sorted(frame["name"]) == _expected(assets, "project_name", ["project 7"])
    assert spy.reads == [(metadata.num_row_groups, holding)] and len(holding) <= 2
    projection.unlink()  # a release written before projections: the file's row groups the index names
    (file,) = (Path(root) / "bdc-v0.1").glob("asset_basics-*.pqt")
    file_metadata = pq.read_metadata(file)
    indexed = clustered.row_groups_to_read(file_metadata, [("project_name", "==", "project 7")])
    spy.reads.clear()
    assert bdc.asset_basics(project_name="project 7").equals(frame)
    assert spy.reads == [(file_metadata.num_row_groups, indexed)]
