"""Small published fixtures shared by the tests."""

from __future__ import annotations

import datetime as dt

from biodata_cache.config import version_folder
from biodata_cache.publish import publish_registry, rows_to_arrow, write_table
from biodata_cache.store import Store
from biodata_cache.sync import _index_rows, _index_table
from biodata_cache.tables import TABLES, TABLES_BY_NAME

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

ROWS: dict[str, list[dict]] = {
    "unique_project_names": [{"project_name": "Learning mFISH"}, {"project_name": "Patch foraging"}],
    "unique_subject_ids": [{"subject_id": "692478"}, {"subject_id": "828418"}],
    "unique_genotypes": [{"genotype": "wt/wt"}],
    "asset_basics": [
        {
            "_id": "1",
            "name": "ophys_692478_raw",
            "data_level": "raw",
            "project_name": "Learning mFISH",
            "modalities": ["pophys", "behavior-videos"],
            "subject_id": "692478",
            "acquisition_start_time": T0,
        },
        {
            "_id": "2",
            "name": "ophys_692478_raw_processed_2024-03-02_10-00-00",
            "data_level": "derived",
            "project_name": "Learning mFISH",
            "modalities": ["pophys"],
            "subject_id": "692478",
        },
        {
            "_id": "3",
            "name": "ophys_692478_raw_processed_2024-03-05_10-00-00",
            "data_level": "derived",
            "project_name": "Learning mFISH",
            "modalities": ["pophys"],
            "subject_id": "692478",
        },
        {
            "_id": "4",
            "name": "behavior_828418_raw",
            "data_level": "raw",
            "project_name": "Patch foraging",
            "modalities": ["behavior"],
            "subject_id": "828418",
        },
        {
            "_id": "5",
            "name": "behavior_828418_raw_processed_2024-04-01_00-00-00",
            "data_level": "derived",
            "project_name": "Patch foraging",
            "modalities": ["behavior"],
            "subject_id": "828418",
        },
    ],
    "source_data": [
        {
            "name": "ophys_692478_raw_processed_2024-03-02_10-00-00",
            "source_data": "ophys_692478_raw",
            "processing_time": dt.datetime(2024, 3, 2, 10, tzinfo=UTC),
        },
        {
            "name": "ophys_692478_raw_processed_2024-03-05_10-00-00",
            "source_data": "ophys_692478_raw",
            "processing_time": dt.datetime(2024, 3, 5, 10, tzinfo=UTC),
        },
        {
            "name": "behavior_828418_raw_processed_2024-04-01_00-00-00",
            "source_data": "behavior_828418_raw",
            "processing_time": dt.datetime(2024, 4, 1, tzinfo=UTC),
        },
    ],
    "qc": [
        {
            "subject_id": "692478",
            "asset_name": "ophys_692478_raw_processed_2024-03-02_10-00-00",
            "name": "motion",
            "value": "0.5",
            "status": "Pass",
        },
        {
            "subject_id": "692478",
            "asset_name": "ophys_692478_raw_processed_2024-03-05_10-00-00",
            "name": "motion",
            "value": "0.7",
            "status": "Pending",
        },
        {
            "subject_id": "828418",
            "asset_name": "behavior_828418_raw_processed_2024-04-01_00-00-00",
            "name": "licks",
            "value": '{"a": 1}',
            "status": "Fail",
        },
        {"subject_id": "a/b=c", "asset_name": "odd", "name": "m", "value": None, "status": "Pass"},
    ],
    "qc_status": [],
    "qc_status_long": [],
    "metadata_core": [{"name": "ophys_692478_raw", "_id": "1", "subject": True}],
    "time_to_qc": [],
}


def publish_fixture(
    root: str,
    version: str | None = None,
    rows: dict[str, list[dict]] | None = None,
    storage_options: dict | None = None,
) -> Store:
    """Publish the small fixture tables (or ``rows``) to ``root`` as one version."""
    store = Store(root, storage_options)
    folder = version_folder(version)
    rows = ROWS if rows is None else rows
    if "qc_raw_assets" not in rows:  # the index of the qc rows, as a build writes it
        qc = [r for r in rows.get("qc", []) if r.get("raw_asset_name")]
        index = _index_table(_index_rows(rows_to_arrow(TABLES_BY_NAME["qc"], qc)))
        rows = {**rows, "qc_raw_assets": index.to_pylist()}
    entries = [
        write_table(store, folder, table, rows_to_arrow(table, rows.get(table.name, [])), source="fixture")
        for table in TABLES
    ]
    publish_registry(store, folder, entries, source="fixture")
    return store


def make_bucket_public(endpoint: str, bucket: str) -> None:
    """Let anyone read and list ``bucket`` on the moto server at ``endpoint``, as on the published bucket
    (moto refuses unsigned requests otherwise; it checks a HEAD as ``s3:HeadObject``)."""
    import json

    import botocore.session

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:HeadObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }
    client = botocore.session.get_session().create_client("s3", endpoint_url=endpoint)
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
