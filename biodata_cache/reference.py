"""Reference pages of the tables, generated from the declarations in :mod:`biodata_cache.tables`.

``builders/regenerate_docs.py`` writes them to ``docs/reference/tables/``; a test fails when the committed
pages differ from what the declarations generate.
"""

from __future__ import annotations

import os

from biodata_cache.tables import TABLES, Table

_READERS = {
    "list": "biodata_cache.{name}()  # -> list of str",
    "frame": "biodata_cache.{name}()  # -> pandas.DataFrame",
}
_EXAMPLES = {
    "asset_basics": 'asset_basics(subject_id="692478", modality="pophys", columns=["name", "created"])',
    "qc": 'qc("692478")  # one partition: one file, whatever the number of subjects',
    "qc_tag_status": 'qc_tag_status("692478")  # one partition: one file',
}
#: Readers that need an argument: the call shown instead of the argument-less one.
_CALLS = {"platform_qc": 'biodata_cache.platform_qc("fib")  # -> pandas.DataFrame: one partition'}
#: An example value of each partition key (for the intake snippet).
_KEY_EXAMPLES = {"subject_id": "692478", "platform": "fib"}


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _built_from(table: Table) -> str:
    if table.data_file:
        return f"- **Built from:** the package data file `biodata_cache/data/{table.data_file}` (every build)"
    if table.custom_input:
        return (
            f"- **Built from:** the custom table `{table.custom_input}` "
            f"(`custom({table.custom_input!r}, df)`) and `{table.joins}` (after every build; "
            "not published without the custom table)"
        )
    if table.derive and table.derived_from and table.listings:
        listed = ", ".join(
            f"{listing.description} (`{listing.variable}`; default `{listing.default}` for DocDB builds, "
            f"nothing listed for other sources)"
            for listing in table.listings
        )
        rows_of = f"the rows of `{table.derived_from[0]}`"
        return f"- **Built from:** {rows_of} and a listing of the {listed} (after every build)"
    if table.derive and table.derived_from:
        return f"- **Built from:** the rows of `{table.derived_from[0]}` (after every build)"
    if table.derived_from:
        return f"- **Built from:** distinct values of `{table.derived_from[0]}.{table.derived_from[1]}`"
    if table.index_of:
        return f"- **Built from:** the partitions of `{table.index_of}`, while they are written"
    return f"- **Built from record fields:** {', '.join(f'`{f}`' for f in table.fields)}"


def _projection_lines(table: Table) -> list[str]:
    """The reference lines of a table's projections (none for most tables)."""
    return [
        f"- **Projection:** `bdc-v{{X}}/_projections/{table.name}-by-{order[0]}-<build>.pqt`, the same rows "
        f"ordered by {', '.join(f'`{c}`' for c in order)}: reads filtered by `{order[0]}` (on S3 and in a "
        f"local folder) read only its row groups. Written by the same build and named in the registry "
        f"entry (`projections`); not a table of its own and outside the `{table.name}-*.pqt` glob, so "
        f"DuckDB counts every row once."
        for order in table.projections
    ]


def render_table_page(table: Table) -> str:
    """The Markdown reference page of one table."""
    if table.partitioned:
        location = f"bdc-v{{X}}/{table.name}/{table.partition_key}=<value>/data-<build>.pqt"
    else:
        location = f"bdc-v{{X}}/{table.name}-<build>.pqt"
    lines = [
        f"# `{table.name}`",
        "",
        "<!-- generated from biodata_cache/tables/ by builders/regenerate_docs.py; do not edit -->",
        "",
        table.description,
        "",
        f"- **Kind:** {'list of distinct values' if table.kind == 'list' else 'table (DataFrame)'}",
        f"- **File:** `{location}`",
        f"- **Partitioned by:** `{table.partition_key}`" if table.partitioned else "- **Partitioned:** no",
        _built_from(table),
        *_projection_lines(table),
        "",
        "## Read it",
        "",
        "```python",
        "import biodata_cache",
        _CALLS.get(table.name) or _READERS[table.kind].format(name=table.name),
    ]
    if table.name in _EXAMPLES:
        lines.append("biodata_cache." + _EXAMPLES[table.name])
    lines += [
        "",
        "import intake",
        'cat = intake.open_catalog("s3://allen-data-views/data-asset-cache/catalog.yaml")',
        (
            f'cat.latest.{table.name}({table.partition_key}="{_KEY_EXAMPLES[table.partition_key]}").read()'
            if table.partitioned
            else f"cat.latest.{table.name}.read()"
        ),
        "```",
        "",
    ]
    if table.partitioned:
        lines += [
            "With DuckDB (keep the partition key a string):",
            "",
            "```sql",
            f"SELECT * FROM read_parquet('<root>/bdc-v0.1/{table.name}/*/*.pqt', hive_partitioning=true,",
            f"                           hive_types={{'{table.partition_key}': VARCHAR}})",
            "```",
            "",
        ]
    lines += ["## Columns", "", "| column | dtype | description |", "| --- | --- | --- |"]
    for column in table.columns:
        lines.append(f"| `{column.name}` | `{column.dtype}` | {_escape(column.description)} |")
    return "\n".join(lines) + "\n"


def render_index() -> str:
    """The Markdown index of the table reference pages."""
    lines = [
        "# Tables",
        "",
        "<!-- generated from biodata_cache/tables/ by builders/regenerate_docs.py; do not edit -->",
        "",
        "| table | kind | partitioned by | description |",
        "| --- | --- | --- | --- |",
    ]
    for table in TABLES:
        lines.append(
            f"| [`{table.name}`]({table.name}.md) | {table.kind} | {table.partition_key or ''} | "
            f"{_escape(table.description)} |"
        )
    return "\n".join(lines) + "\n"


API_FUNCTIONS = (
    "biodata_cache.unique_project_names",
    "biodata_cache.unique_subject_ids",
    "biodata_cache.unique_genotypes",
    "biodata_cache.asset_basics",
    "biodata_cache.source_data",
    "biodata_cache.qc",
    "biodata_cache.qc_status",
    "biodata_cache.qc_status_long",
    "biodata_cache.metadata_core",
    "biodata_cache.time_to_qc",
    "biodata_cache.qc_tag_status",
    "biodata_cache.platform_qc",
    "biodata_cache.platform_fib",
    "biodata_cache.platform_smartspim_fiber_ccf",
    "biodata_cache.platform_smartspim_qc_metrics",
    "biodata_cache.record_consistency_results",
    "biodata_cache.record_consistency_checks",
    "biodata_cache.metadata_upgrade",
    "biodata_cache.swdb_2025_bci",
    "biodata_cache.swdb_2025_v1dd",
    "biodata_cache.swdb_2026_bci",
    "biodata_cache.swdb_2026_v1dd",
    "biodata_cache.swdb_2026_visual_learning",
    "biodata_cache.swdb_2026_visual_coding_neuropixels",
    "biodata_cache.swdb_2026_visual_coding_ophys",
    "biodata_cache.swdb_2026_dynamic_routing",
    "biodata_cache.swdb_2026_neuropixels_opto",
    "biodata_cache.raw_to_derived",
    "biodata_cache.custom",
    "biodata_cache.read_table",
    "biodata_cache.get_cache_registry",
    "biodata_cache.get_cache_versions",
    "biodata_cache.open_catalog",
    "biodata_cache.sync.update_all_tables",
    "biodata_cache.sync.run_sync_job",
    "biodata_cache.sources.open_source",
)


def render_api() -> str:
    """The Markdown API reference: signature and docstring of every public function."""
    import importlib
    import inspect

    lines = [
        "# API",
        "",
        "<!-- generated from the docstrings by builders/regenerate_docs.py; do not edit -->",
        "",
        "Errors: `BiodataCacheError` and its subclasses `InvalidInputError`, `TableNotFoundError`,",
        "`VersionNotFoundError`, `StoreAccessError`, `StoreUnavailableError`, `SourceError` (and its",
        "`RecordError`: one record that cannot be read, which a build skips and counts), `ConflictError`,",
        "`ReleaseChangedError` (a read kept finding files of another release while builds committed)",
        "(all importable from `biodata_cache`). Warning: `NoMatchWarning` (a `UserWarning`), given when a",
        "filter value does not occur in the table at all; see the how-to page on empty results.",
        "",
    ]
    for dotted in API_FUNCTIONS:
        module_name, name = dotted.rsplit(".", 1)
        function = getattr(importlib.import_module(module_name), name)
        signature = str(inspect.signature(function)).replace("'", "")
        lines += [f"## `{dotted}`", "", "```python", f"{name}{signature}", "```", "", "```text"]
        lines += [inspect.cleandoc(function.__doc__ or "").rstrip(), "```", ""]
    return "\n".join(lines)


def write_reference(folder: str | os.PathLike[str]) -> list[str]:
    """Write the index and one page per table into ``folder``; return the paths written."""
    os.makedirs(folder, exist_ok=True)
    pages = {"index.md": render_index()} | {f"{t.name}.md": render_table_page(t) for t in TABLES}
    written = []
    for name, text in pages.items():
        path = os.path.join(os.fspath(folder), name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written


#: What each value of the normal form (:data:`biodata_cache.records.PATHS`) feeds, for the record-shapes page.
_FEEDS = {
    "_id": "`_id` of asset_basics, metadata_core, qc_status_long",
    "name": "`name` / `asset_name` of every table",
    "location": "asset_basics `location`",
    "last_modified": "`_last_modified` of asset_basics, metadata_core, qc_status_long (an envelope time; "
    "the newest record of a name wins in qc_status); the change marker",
    "created": "asset_basics `created` (an envelope time)",
    "data_level": "asset_basics `data_level` (normal form); which assets time_to_qc covers",
    "project_name": "asset_basics `project_name`",
    "modalities": "asset_basics `modalities` (normal form) and `recorded_modalities` (as written)",
    "subject_id": "`subject_id` of asset_basics, qc (its partition key), qc_status_long",
    "genotype": "asset_basics `genotype`",
    "date_of_birth": "asset_basics `age_days`, `age`",
    "year_of_birth": "asset_basics `age` when there is no date of birth (January 1 of that year)",
    "acquisition_type": "asset_basics `acquisition_type`",
    "acquisition_start_time": "asset_basics `acquisition_start_time`, `age_days`; qc `timestamp`",
    "acquisition_end_time": "asset_basics `acquisition_end_time`",
    "instrument_id": "asset_basics `instrument_id`, `instrument_id_normalized`",
    "experimenters": "asset_basics `experimenters`, `experimenters_normalized`",
    "investigators": "asset_basics `investigators`, `investigators_normalized`",
    "code_ocean": "asset_basics `code_ocean` (every path, merged in order, without repeats)",
    "processes": "asset_basics `process_date`, time_to_qc `process_end_time` (every path: all steps)",
    "pipeline_name": "source_data `pipeline_name` (a processing step's `pipeline_name` first)",
    "source_data": "source_data rows; qc `raw_asset_name` (the lineage root)",
    "qc_metrics": "qc rows, time_to_qc (every path: every metric)",
    "qc_default_grouping": "`default_grouping` of qc",
    "qc_status": "qc_status_long rows, from which qc_status (wide) is built",
    "core_files": "metadata_core (v1 `rig` counts as instrument, `session` as acquisition)",
}


def render_record_shapes() -> str:
    """The Markdown page on record shapes, from the declarations in :mod:`biodata_cache.records`."""
    from biodata_cache import records

    paths = [
        "| value | record paths, in order | feeds |",
        "| --- | --- | --- |",
    ]
    for key, value_paths in records.PATHS.items():
        shown = ", ".join(f"`{p}`" for p in value_paths)
        paths.append(f"| {key} | {_escape(shown)} | {_escape(_FEEDS[key])} |")
    vocabulary = ", ".join(f"`{a}`" for a in records.MODALITIES)
    legacy: dict[str, list[str]] = {}
    for spelling, abbreviation in records.LEGACY_MODALITIES.items():
        legacy.setdefault(abbreviation, []).append(f"`{spelling}`")
    legacy_lines = [f"   - {', '.join(s)} -> `{a}`" for a, s in legacy.items()]
    return _RECORD_SHAPES.format(
        paths="\n".join(paths),
        vocabulary=vocabulary,
        legacy="\n".join(legacy_lines),
        zone=records.LAB_TIME_ZONE,
        stages=", ".join(f"`{s}`" for s in sorted(records.QC_STAGES)),
    )


_RECORD_SHAPES = """# Record shapes

<!-- generated from biodata_cache/records.py by builders/regenerate_docs.py; do not edit -->

DocDB holds records of three shapes. biodata-cache reads every one through one normalising step
(`biodata_cache.records.normalize`) into the same values, and the tables are built from those values, so an
asset reads the same whatever the schema version of its record.

- **v2** (aind-data-schema 2.x): `acquisition`, `instrument`, `other_identifiers`, `_created` /
  `_last_modified`, `data_description.modalities`, `quality_control.metrics[]`. Examples in
  `tests/data/aind_records/`: `v2_record.json`, `real/v2_*.json`.
- **v1** (aind-data-schema 0.x and 1.x): `session`, `rig`, `external_links`, `created` / `last_modified`,
  `data_description.modality` (singular), `subject.genotype`, `subject.date_of_birth`,
  `quality_control.evaluations[].metrics[]`, `processing.processing_pipeline`,
  `data_description.input_data_name`. Examples: `real/v1_*.json`.
- **hybrid**: a v1 top level (`created`, `last_modified`, `external_links`, `session`, `rig`) with 2.x parts
  (`data_description.modalities`, `subject.subject_details`, `quality_control.metrics`,
  `acquisition.acquisition_start_time`). Examples: `real/v1mix_*.json`, `real/v2_ecephys_raw_233b.json`.

The shape is never detected as a whole: each value is read from the first of its record paths that holds
one (not null, not a blank string, not an empty list), so a hybrid record reads each part in the shape that
part has. Nothing is inferred from an asset's name: a derived record without `source_data` or
`input_data_name` keeps one source_data row with a null `source_data`, and no source is guessed.

## Where each value comes from

{paths}

Text: surrounding blanks are removed (also of each name in a list), a blank string is null, an integer is
read as its decimal text (subject ids stored as numbers). Lists are never null: a missing list is `[]`.
People are names or objects with a `name`; one string or object alone is a one-item list. Repeated names
are kept.

Before any value is read, every field on these paths is checked for a shape that reads faithfully
(`biodata_cache.records.RECORD_FIELDS`); a record with a field of another type is skipped by the build,
named in a warning and counted in the build report (see
[Tell an empty answer from a typo](../how-to/empty-results.md)).

## Normal forms

### Modalities

`modalities` holds today's abbreviations of the aind-data-schema-models vocabulary: {vocabulary}.

1. A modality object gives its `abbreviation`, else its `name`; a plain string is read as written.
2. Legacy names map to today's abbreviation, as aind-metadata-upgrader maps them:
{legacy}
3. Otherwise a spelling equal, ignoring case, to an abbreviation or a full name of the vocabulary gives that
   abbreviation (`Ecephys` -> `ecephys`, `Behavior videos` -> `behavior-videos`).
4. Anything else is kept as written.
5. Repeats after mapping are dropped (the first position is kept).

`recorded_modalities` keeps the record's own spelling (step 1 only): `["SmartSPIM"]`, `["FIP"]`,
`["slap", "behavior"]`. The qc `modality` column uses the normal form too.

### Data level

`raw data` -> `raw`, `derived data` -> `derived`, ignoring case, surrounding blanks, and `_` or `-` for a
space (`Raw`, `raw_data` -> `raw`). Any other value is kept as written.

### Times

- An ISO 8601 time with `Z` or an offset is that instant; tables hold it in UTC. A space may separate date
  and time.
- A time **without an offset**:
    - server times are read as **UTC**: envelope times (`_created`, `_last_modified`, `created`,
      `last_modified`, written by DocDB) and processing-step times (written by pipelines; a derived
      asset's name, which is UTC, carries the same clock: `..._stitched_2023-02-02_21-58-54` and a first
      step starting at `2023-02-02T21:58:54.429361` in `real/v1_smartspim_stitched_labelled_raw.json`);
    - every time recorded at the lab (acquisition and session start and end, QC status times, date of
      birth) is the lab's local time, **{zone}** (daylight saving applied), as aind-metadata-upgrader
      reads them: `"2023-10-18T20:30:30"` is `2023-10-19T03:30:30Z` (PDT) and `"2023-02-28T15:17:04"` is
      `2023-02-28T23:17:04Z` (PST).
- A date alone (`"2023-07-05"`) is midnight of that day.
- An offset a record states is trusted, even where the asset's name suggests another zone.
- `processing_time` (source_data) and the fallback `process_end_time` (time_to_qc) come from the
  `_YYYY-MM-DD_HH-MM-SS` at the end of the asset's name, read as UTC (derived names in the real records
  match their `Z` processing times).

### Age

`age_days` is the **local** calendar date of the acquisition start minus the date of birth. The local
date is the date as written when the time carries a local offset (`2025-09-26T18:18:00-07:00` counts
09-26, not the UTC date 09-27) or none (already lab time). A time written in UTC (`Z` or `+00:00`) says
when, not where: its date is taken in the lab's time zone (`2025-09-27T01:18:00Z` is 18:18 on 09-26 at
the lab, and counts 09-26). `2023-09-29T08:53:45-07:00` with birth `2023-07-05` gives 86. Null when
either is missing.

## Quality control

**v2** (and hybrid records with 2.x `quality_control`): one qc row per `quality_control.metrics[]` item, with
its own `name`, `stage`, `modality`, `object_type`, `value`, `description` and `tags`.

**v1**: one qc row per `quality_control.evaluations[i].metrics[j]`, evaluation by evaluation. From the
metric: `name`, `value`, `description`, `object_type` (null when absent) and the status. From the
evaluation: `stage` and `modality`. `tags` is `["<evaluation name>"]`: DocDB's own v1 -> v2 upgrade wrote
the tags so (compare `real/v1_pophys_derived_qc_692478.json` with `v2_record.json`, the same asset before
and after its upgrade: they give the same qc rows). The evaluation's own `tags` and `description` are not
read. aind-data-schema 1.0.0 (2024) spelled the evaluation's fields `evaluation_name`, `evaluation_stage`,
`evaluation_modality` and its metrics `qc_metrics` (a list of metrics, or in the released 1.0.0 an object
of metric values by name: each key is read as a metric of that name and value, without a status); those
spellings are read the same way.

Both shapes: `value` is a string as written (an empty string stays empty) and anything else JSON with
sorted keys; `tags` JSON with sorted keys; the status, its time and evaluator come from the latest
`status_history` entry (by time, else the last); `timestamp` is the asset's acquisition start;
`raw_asset_name` follows the first source asset through the records of the build to one without sources
(else it is the asset's own name).

`qc_status_long`: v2, one row per key of `quality_control.status`; `key_type` is `modality` when the key is
one of the asset's modalities (normal or as written) or a metric's modality, `stage` when it is a QC stage
({stages}) or a metric's stage (exact spelling), else `tag`. v1 records have no status object: one row per
evaluation that records its own status (`latest_status`; 1.0.0: the latest `evaluation_status` entry, or
`stage_status`) (key: the evaluation name, key_type `tag`).

`qc_status` (wide, biodata-cache 0.42's form) is built from all of `qc_status_long` after every build: one
row per asset name, from the newest of the records sharing that name (greatest `_last_modified`, a record
without one being the oldest, then greatest `_id`); its `modality` and `stage` keys fill the column of that
name (a modality in today's spelling), tags and keys outside the declared columns are left out, and a v1
record (tags only) gives a row of nulls.

`time_to_qc`: one row per asset whose data level (normal form) is `derived` and that has a QC metric of
either shape.

## Why not the field's own libraries

Both were measured on the 28 real records (Python 3.11, 2 cores; 2026-11-24):

- **aind-data-schema-models 6.3.1** (the modality vocabulary): importing `Modality` costs 122 ms (pydantic
  model classes) and brings 12 packages; a lookup is as fast as a dict (0.3 against 0.16 µs per record),
  but it knows only today's 21 abbreviations: `SmartSPIM`, `exaSPIM`, `FIP`, `slap` and `trained-behavior`
  all give nothing. The vocabulary is therefore a literal in `biodata_cache/records.py`, copied with the
  commit it came from.
- **aind-metadata-upgrader 0.17.14** (the official v1 -> v2 upgrade): 36 packages (pydantic pinned below
  2.12, boto3, pymongo, paramiko), 1.6 s to import, a median of 38 ms per record (max 114 ms; the whole
  build spends about 1.5 ms per record), and it modifies the record it is given. It failed on 5 of the 28
  records: 3 reach for `www.ebi.ac.uk` to look up anatomy terms (and fail without a network), 1 rejects
  `{{"abbreviation": "FIP"}}`, 1 rejects a record without `location` (losing its 109 QC metrics). A derived
  record whose `input_data_name` names a derived asset makes it query DocDB without a timeout. Its output
  drops `_id` and the record times, fills gaps with invented values (project `unknown`, investigator
  `unknown`), turns dropdown values `[]` into null and numbers unnamed devices from a counter shared across
  records, so upgrading a record twice gives two answers. A table must not inherit any of that. Where it
  reads v1 fields the way this page does (Pacific time for times without an offset, `input_data_name` as
  the source, the legacy modality names), this page follows it.

## Change detection

An incremental build notices an edit by the record's change marker: its `_last_modified`, else its
`last_modified`, as stored (a blank one counts as missing). A record with neither (possible in files) is
compared by a fingerprint of its content. From DocDB one projected query lists every record's `_id`,
`_last_modified` and `last_modified`, and the records whose marker differs from the last build's are
fetched; a record with neither time is fetched on every build (DocDB cannot say whether it changed).
(`DocDBSource.records(since=...)` asks for records whose `_last_modified` **or** `last_modified` is
greater, compared as DocDB compares the stored strings; builds do not use it.)

The build state also keeps a fingerprint of how records are read (the installed version, the table
schemas and the declarations this page is generated from). A build whose fingerprint differs from the
state's rebuilds every table, so an unchanged record is never left as an older version read it.
"""
