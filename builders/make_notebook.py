"""Write the tutorial notebook ``docs/notebooks/browse_the_catalog.ipynb`` (cells below, no outputs).

The notebook is executed by the test suite (nbclient + ipykernel) against a store built from the bundled
sample; keeping its source here makes review of the cells a plain diff.
"""

from pathlib import Path

import nbformat

CELLS = [
    (
        "markdown",
        """# Browse the biodata-cache catalog

Tables of AIND data-asset metadata in one line of Python. This notebook opens the catalog, browses its
tables, reads `asset_basics` with filters, the QC metrics of one subject, raw-to-derived lineage, the
versions, queries the same files with DuckDB and plots assets per modality over time.

**Where the data comes from.** With `BIODATA_CACHE_BACKEND=S3` you read the published tables in
`s3://allen-data-views/data-asset-cache`. To run anywhere (and in our test suite) the next cell builds a
local store from the bundled **synthetic** sample records when `BIODATA_CACHE_ROOT` is not set.""",
    ),
    (
        "code",
        """import os

import biodata_cache as bdc

if "BIODATA_CACHE_ROOT" not in os.environ and os.environ.get("BIODATA_CACHE_BACKEND") != "S3":
    from biodata_cache.sync import update_all_tables

    os.environ["BIODATA_CACHE_ROOT"] = os.path.abspath("tutorial-store")
    update_all_tables(source="sample", progress=False)
print("reading from", os.environ.get("BIODATA_CACHE_ROOT", "s3://allen-data-views/data-asset-cache"))""",
    ),
    (
        "markdown",
        "## The catalog\n\nOne row per table: description, rows, columns (open the details), partition key, parameters, build time.",
    ),
    ("code", "cat = bdc.open_catalog()\ncat"),
    ("markdown", "Each entry shows its columns and how to read it."),
    ("code", "cat.qc"),
    (
        "markdown",
        "## Versions and the registry\n\n`get_cache_versions()` is a list of version folders; in a notebook it shows build times and table counts, newest first.",
    ),
    ("code", "bdc.get_cache_versions()"),
    ("code", "bdc.get_cache_registry()"),
    (
        "markdown",
        "## One row per asset\n\nFilters (`subject_id`, `project_name`, `modality`, `data_level`, `name`, acquisition time bounds) and `columns` are pushed down to the parquet file. Rows come ordered by name.",
    ),
    (
        "code",
        """projects = bdc.unique_project_names()
basics = bdc.asset_basics(project_name=projects[0], data_level="raw",
                          columns=["name", "subject_id", "modalities", "acquisition_start_time"])
basics.head()""",
    ),
    (
        "markdown",
        "Modalities match whole abbreviations, ignoring case; `name_contains` is a literal, case-insensitive substring. Time bounds are ISO 8601 (without an offset: lab time, America/Los_Angeles), `[after, before)`. `limit` / `offset` page through the rows and `include_total=True` also returns how many match.",
    ),
    (
        "code",
        """page, total = bdc.asset_basics(modality="ECEPHYS", acquisition_start_after="2023-01-01T00:00:00-08:00",
                               columns=["name", "acquisition_start_time"], limit=5, include_total=True)
print(f"{total} ecephys assets acquired since 2023; the first {len(page)} by name:")
page""",
    ),
    (
        "markdown",
        "## QC metrics of one subject\n\n`qc(subject_id)` opens that subject's partition only, whatever the number of subjects. Subject ids are strings.",
    ),
    (
        "code",
        """subject = bdc.qc(columns=["subject_id"])["subject_id"].value_counts().index[0]
metrics = bdc.qc(subject, columns=["asset_name", "name", "stage", "status", "value"])
metrics.groupby("status").size()""",
    ),
    ("markdown", "## Raw to derived"),
    (
        "code",
        """lineage = bdc.source_data()
raw = lineage["source_data"].value_counts().index[0]
{"raw": raw, "derived": bdc.raw_to_derived(raw), "latest": bdc.raw_to_derived(raw, latest=True)}""",
    ),
    (
        "markdown",
        "## The same catalog with intake, and Dask\n\n`intake.open_catalog` on the top-level `catalog.yaml` gives every version and `latest`; any entry can be read lazily with Dask (one partition per file).",
    ),
    (
        "code",
        """import intake

top = intake.open_catalog(os.path.join(os.environ["BIODATA_CACHE_ROOT"], "catalog.yaml"))
print(list(top))
lazy = top.latest.qc.to_dask()
print(lazy.npartitions, "partitions;", len(lazy), "rows")""",
    ),
    ("markdown", "## DuckDB on the same files\n\nKeep the partition key a string with `hive_types`."),
    (
        "code",
        """import duckdb

folder = os.path.join(os.environ["BIODATA_CACHE_ROOT"], "bdc-v0.1")
duckdb.sql(f\"\"\"
    SELECT modality, status, count(*) AS metrics
    FROM read_parquet('{folder}/qc/*/*.pqt', hive_partitioning=true, hive_types={{'subject_id': VARCHAR}})
    GROUP BY ALL ORDER BY modality, status
\"\"\").df()""",
    ),
    ("markdown", "## Assets per modality over time"),
    (
        "code",
        """import matplotlib.pyplot as plt

assets = bdc.asset_basics(columns=["modalities", "acquisition_start_time"]).explode("modalities")
assets["quarter"] = assets["acquisition_start_time"].dt.tz_localize(None).dt.to_period("Q").dt.start_time
counts = assets.groupby(["quarter", "modalities"]).size().unstack(fill_value=0)
ax = counts.plot(kind="area", stacked=True, figsize=(9, 4), title="Assets per modality per quarter")
ax.set(xlabel="acquisition start", ylabel="assets")
plt.show()""",
    ),
]


def build() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for number, (kind, source) in enumerate(CELLS):
        cell = (
            nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        )
        cell["id"] = f"cell-{number:02d}"  # stable ids keep the file's diff readable
        notebook.cells.append(cell)
    return notebook


if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "browse_the_catalog.ipynb"
    nbformat.write(build(), path)
    print("wrote", path)
