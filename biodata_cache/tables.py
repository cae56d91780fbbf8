"""Table declarations: the one place a table is described.

Each :class:`Table` names a table, describes it and its columns (with arrow dtypes), says how it is
partitioned and which record fields it needs. The builder, the registry, the Intake catalog, the readers
and the reference docs are all generated from these declarations; adding a table is adding one
declaration here (and its row function in :mod:`biodata_cache.rows`).

This module imports no third-party package: arrow types are built on demand by :meth:`Table.arrow_schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from biodata_cache import records, rows
from biodata_cache.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

#: Column dtypes a declaration may use, with their arrow spelling.
DTYPES = {
    "string": "string",
    "int64": "int64",
    "float64": "double",
    "bool": "bool",
    "timestamp": "timestamp[us, tz=UTC]",
    "list<string>": "list<string>",
}


def arrow_type(dtype: str) -> pa.DataType:
    """Return the arrow type of a declared dtype (see :data:`DTYPES`)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list<string>": pa.list_(pa.string()),
    }[dtype]


@dataclass(frozen=True)
class Column:
    """One column of a table: name, declared dtype (a key of :data:`DTYPES`) and description."""

    name: str
    dtype: str
    description: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: dtype {self.dtype!r} is not one of {list(DTYPES)}")


@dataclass(frozen=True)
class Table:
    """Declaration of one published table.

    Attributes
    ----------
    name
        Table name; also the file name (``<name>.pqt``) and the catalog entry name.
    description
        One-paragraph description shown in the registry, the catalog and the docs.
    kind
        ``"list"`` for a one-column table of distinct values that the reader returns as a list of
        str, ``"frame"`` for a table read as a DataFrame.
    columns
        The columns, in order. The partition key, if any, is one of them.
    partition_key
        Column whose values split the table into hive partitions (``<key>=<value>/data-<build>.pqt``).
    fields
        Record fields (dotted paths) the table is built from; their union is the source's projection.
    rows
        Pure function from one record to the rows it contributes (see :mod:`biodata_cache.rows`).
    record_key
        Column that identifies the record a row came from (``_id``; two records may share an asset name);
        an incremental build replaces a changed record's rows by this key. Rows are ordered by the first
        column, then this key.
    derived_from
        ``(table, column)`` for a table computed from another table after every build: by default the
        distinct non-null values of that column.
    derive
        For a ``derived_from`` table that is not a list of distinct values: pure function from all the
        rows of the ``derived_from`` table (dicts) to this table's rows (e.g. :func:`rows.qc_status_wide`).
    index_of
        The partitioned table this table indexes (computed while that table's partitions are written).
    """

    name: str
    description: str
    kind: str
    columns: tuple[Column, ...]
    partition_key: str | None = None
    fields: tuple[str, ...] = field(default=())
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    record_key: str | None = None
    derived_from: tuple[str, str] | None = None
    derive: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    index_of: str | None = None

    @property
    def column_names(self) -> list[str]:
        """The column names, in declared order."""
        return [column.name for column in self.columns]

    @property
    def partitioned(self) -> bool:
        """Whether the table is hive-partitioned."""
        return self.partition_key is not None

    @property
    def file_columns(self) -> list[Column]:
        """Columns stored inside the parquet files (a partition key lives in the folder name)."""
        return [c for c in self.columns if c.name != self.partition_key]

    def arrow_schema(self, *, include_partition_key: bool = True) -> pa.Schema:
        """The explicit arrow schema every file of this table is written and read with."""
        import pyarrow as pa

        columns = self.columns if include_partition_key else self.file_columns
        return pa.schema([pa.field(c.name, arrow_type(c.dtype)) for c in columns])

    def check_columns(self, columns: list[str] | tuple[str, ...] | None) -> list[str] | None:
        """Validate a user's column selection against the declaration.

        Raises
        ------
        InvalidInputError
            If ``columns`` is not a list of str, is empty, repeats a name or names a column the table
            does not have.
        """
        if columns is None:
            return None
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidInputError(
                f"columns must be a list of column names of table {self.name!r}, got {columns!r}."
            )
        if not columns or len(set(columns)) != len(columns):
            raise InvalidInputError(
                f"columns must name at least one column of table {self.name!r}, each once; got {columns!r}."
            )
        unknown = [c for c in columns if c not in self.column_names]
        if unknown:
            raise InvalidInputError(
                f"table {self.name!r} has no column {', '.join(map(repr, unknown))}; its columns are: "
                f"{', '.join(self.column_names)}."
            )
        return list(columns)


def _paths(*values: str) -> tuple[str, ...]:
    """The record paths (all shapes) a table's values are read from (:data:`records.PROJECTIONS`)."""
    return tuple(dict.fromkeys(path for value in values for path in records.PROJECTIONS[value]))


def _distinct(name: str, column: str, description: str) -> Table:
    return Table(
        name=name,
        description=description,
        kind="list",
        columns=(Column(column, "string", description),),
        derived_from=("asset_basics", column),
    )


TABLES: tuple[Table, ...] = (
    _distinct(
        "unique_project_names",
        "project_name",
        "Distinct non-null project names (data_description.project_name) across all assets.",
    ),
    _distinct(
        "unique_subject_ids",
        "subject_id",
        "Distinct non-null subject ids (subject.subject_id, else the other paths in Record shapes), "
        "as strings.",
    ),
    _distinct(
        "unique_genotypes",
        "genotype",
        "Distinct non-null genotypes (subject.subject_details.genotype, else v1 subject.genotype).",
    ),
    Table(
        name="asset_basics",
        description="One row per data asset: identity, project, modalities, subject, acquisition and "
        "processing basics.",
        kind="frame",
        columns=(
            Column("_id", "string", "DocDB record id."),
            Column(
                "_last_modified",
                "timestamp",
                "When the record last changed in DocDB (_last_modified, else v1 last_modified; UTC).",
            ),
            Column("created", "timestamp", "When the record was created (_created, else v1 created; UTC)."),
            Column("name", "string", "Asset name."),
            Column("location", "string", "Where the asset's data lives (usually an s3:// URL)."),
            Column("data_level", "string", "raw or derived ('raw data' and 'derived data' read as such)."),
            Column("project_name", "string", "data_description.project_name."),
            Column(
                "modalities",
                "list<string>",
                "Modality abbreviations in today's vocabulary, e.g. ['ecephys'] (legacy names such as "
                "SmartSPIM or FIP mapped: see Record shapes).",
            ),
            Column(
                "recorded_modalities",
                "list<string>",
                "Modalities as the record spells them (legacy names kept, e.g. ['SmartSPIM']).",
            ),
            Column("subject_id", "string", "Subject id, as a string."),
            Column("genotype", "string", "Subject genotype (subject_details, else v1 subject.genotype)."),
            Column(
                "acquisition_type", "string", "acquisition.acquisition_type, else v1 session.session_type."
            ),
            Column(
                "acquisition_start_time",
                "timestamp",
                "Acquisition start (UTC; v1 session.session_start_time; no offset = lab local time).",
            ),
            Column(
                "acquisition_end_time", "timestamp", "Acquisition end (UTC; v1 session.session_end_time)."
            ),
            Column(
                "age_days",
                "int64",
                "Subject age in days: the acquisition's local calendar date minus the date of birth.",
            ),
            Column(
                "instrument_id",
                "string",
                "Instrument id: acquisition (v1 session.rig_id), else instrument (v1 rig.rig_id).",
            ),
            Column("process_date", "timestamp", "Latest processing end time (UTC)."),
            Column(
                "code_ocean",
                "list<string>",
                "Code Ocean data asset ids (other_identifiers, v1 external_links).",
            ),
            Column("experimenters", "list<string>", "Acquisition experimenters (v1 experimenter_full_name)."),
            Column("investigators", "list<string>", "Investigator names from data_description."),
            Column(
                "age",
                "int64",
                "Subject age in days as biodata-cache 0.42 computes it: like age_days, but from January 1 of "
                "the year of birth when there is no date of birth.",
            ),
            Column(
                "experimenters_normalized",
                "list<string>",
                "experimenters in the name form of biodata-cache 0.42 "
                "('katrina.nguyen' -> 'Katrina Nguyen'), each person once.",
            ),
            Column(
                "investigators_normalized",
                "list<string>",
                "investigators in the name form of biodata-cache 0.42, each person once.",
            ),
            Column(
                "instrument_id_normalized",
                "string",
                "instrument_id as biodata-cache 0.42 compares them: room prefix and date suffix removed, "
                "then '_' and '-' ('323_EPHYS1_20250922' -> 'EPHYS1').",
            ),
        ),
        fields=_paths(
            "_id",
            "last_modified",
            "created",
            "name",
            "location",
            "data_level",
            "project_name",
            "modalities",
            "subject_id",
            "genotype",
            "date_of_birth",
            "year_of_birth",
            "acquisition_type",
            "acquisition_start_time",
            "acquisition_end_time",
            "instrument_id",
            "processes",
            "code_ocean",
            "experimenters",
            "investigators",
        ),
        rows=rows.asset_basics_rows,
        record_key="_id",
    ),
    Table(
        name="source_data",
        description="Lineage: one row per (derived asset, source asset) pair; a derived asset that names no "
        "source keeps one row with a null source_data.",
        kind="frame",
        columns=(
            Column("name", "string", "Derived asset name."),
            Column(
                "source_data",
                "string",
                "Name of an asset it was derived from (source_data, else v1 input_data_name).",
            ),
            Column("pipeline_name", "string", "Processing pipeline name, where recorded."),
            Column("processing_time", "timestamp", "Processing time parsed from the name (UTC)."),
            Column("_id", "string", "DocDB id of the record the row comes from."),
        ),
        fields=_paths("_id", "name", "source_data", "pipeline_name"),
        rows=rows.source_data_rows,
        record_key="_id",
    ),
    Table(
        name="qc",
        description="Quality-control metrics along each raw asset's lineage, partitioned by subject_id: one "
        "row per metric of the newest processing chain per modality set (a metric inherited along the chain "
        "appears once, at the earliest asset that has it; downstream_asset_names lists the later ones).",
        kind="frame",
        partition_key="subject_id",
        columns=(
            Column("subject_id", "string", "Subject id (the partition key)."),
            Column(
                "asset_name",
                "string",
                "Asset where the metric first appears in the chain (the earliest asset that has it).",
            ),
            Column(
                "raw_asset_name",
                "string",
                "Raw asset at the root of the lineage (an asset derived from several is under each root).",
            ),
            Column("name", "string", "Metric name."),
            Column("stage", "string", "QC stage, e.g. Raw data, Processing (v1: the evaluation's)."),
            Column("modality", "string", "Modality abbreviation (today's vocabulary)."),
            Column("object_type", "string", "Metric object type."),
            Column("value", "string", "Metric value as text; dicts and lists as JSON, keys sorted."),
            Column("status", "string", "Latest status (Pass, Fail, Pending)."),
            Column("status_time", "timestamp", "Time of the latest status (UTC)."),
            Column("evaluator", "string", "Who or what set the latest status."),
            Column("description", "string", "Metric description."),
            Column(
                "tags",
                "string",
                "Metric tags as JSON (v1: [evaluation name], as DocDB's upgrade wrote them).",
            ),
            Column("timestamp", "timestamp", "Acquisition start of asset_name (UTC)."),
            Column("reference", "string", "Metric reference: a figure, media file or URL."),
            Column("type", "string", "Curation metric type, where the metric has one."),
            Column("evaluated_assets", "string", "Assets the metric evaluated, as JSON."),
            Column(
                "metric_index",
                "int64",
                "Position of the metric in its record's QC; with _id it names one metric (an asset derived "
                "from two raw assets has its rows under each).",
            ),
            Column(
                "metric_key",
                "string",
                "The metric's identity along a lineage: JSON of name, modality, stage and tags (several "
                "metrics of one asset may share it).",
            ),
            Column("metric_json", "string", "The whole metric object as recorded, as JSON."),
            Column("default_grouping", "string", "quality_control.default_grouping of asset_name, as JSON."),
            Column(
                "downstream_asset_names",
                "list<string>",
                "Later assets of the chain that carry the same metric (nearest first).",
            ),
            Column("asset_location", "string", "location of asset_name."),
            Column("asset_data_level", "string", "Data level of asset_name (raw or derived)."),
            Column("_id", "string", "DocDB id of the record the row comes from."),
        ),
        fields=_paths(
            "_id",
            "name",
            "location",
            "data_level",
            "subject_id",
            "source_data",
            "acquisition_start_time",
            "qc_metrics",
            "qc_default_grouping",
        ),
        rows=rows.qc_rows,
        record_key="_id",
    ),
    Table(
        name="qc_raw_assets",
        description="Index of qc: which subject partition holds each raw asset's QC, one row per (raw asset, "
        "subject). qc(raw_asset_name=...) reads it to open only those partitions.",
        kind="frame",
        columns=(
            Column("raw_asset_name", "string", "Raw asset (qc.raw_asset_name)."),
            Column("subject_id", "string", "qc partition holding its rows."),
            Column("rows", "int64", "Number of its rows in that partition."),
        ),
        index_of="qc",
    ),
    Table(
        name="qc_status_long",
        description="QC status in long format: one row per record and status key (modality, stage or tag), "
        "every key of quality_control.status (v1: each evaluation's own status). qc_status is its wide form.",
        kind="frame",
        columns=(
            Column("_id", "string", "DocDB record id."),
            Column(
                "_last_modified",
                "timestamp",
                "When the record last changed in DocDB (_last_modified, else v1 last_modified; UTC).",
            ),
            Column("asset_name", "string", "Asset name."),
            Column("subject_id", "string", "Subject id."),
            Column("key", "string", "Status key: a modality, a stage or a tag."),
            Column("key_type", "string", "modality, stage or tag."),
            Column("status", "string", "Pass, Fail or Pending."),
        ),
        fields=_paths("_id", "last_modified", "name", "subject_id", "modalities", "qc_status", "qc_metrics"),
        rows=rows.qc_status_rows,
        record_key="_id",
    ),
    Table(
        name="metadata_core",
        description="Which core metadata files each asset has: one row per asset, one boolean per file.",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name."),
            Column("_id", "string", "DocDB record id."),
            Column(
                "_last_modified",
                "timestamp",
                "When the record last changed in DocDB (_last_modified, else v1 last_modified; UTC).",
            ),
            Column("subject", "bool", "Has subject metadata."),
            Column("data_description", "bool", "Has data_description metadata."),
            Column("procedures", "bool", "Has procedures metadata."),
            Column("instrument", "bool", "Has instrument metadata (v1: rig)."),
            Column("acquisition", "bool", "Has acquisition metadata (v1: session)."),
            Column("processing", "bool", "Has processing metadata."),
            Column("quality_control", "bool", "Has quality_control metadata."),
        ),
        fields=_paths("_id", "name", "last_modified", "core_files"),
        rows=rows.metadata_core_rows,
        record_key="_id",
    ),
    Table(
        name="time_to_qc",
        description="Time from processing to QC: one row per derived asset with QC metrics.",
        kind="frame",
        columns=(
            Column("name", "string", "Derived asset name."),
            Column("process_end_time", "timestamp", "Latest processing end time (UTC)."),
            Column("qc_time", "timestamp", "Latest QC status time; null while any status is pending."),
            Column("pending", "bool", "Whether any QC metric is still pending."),
            Column("_id", "string", "DocDB id of the record the row comes from."),
        ),
        fields=_paths("_id", "name", "data_level", "processes", "qc_metrics"),
        rows=rows.time_to_qc_rows,
        record_key="_id",
    ),
    Table(
        name="qc_status",
        description="QC status in biodata-cache 0.42's wide form: one row per asset with a QC status, a "
        "column per modality and per QC stage holding its status (Pass, Fail, Pending; null where the "
        "asset has none). Of records sharing an asset name the newest (_last_modified) wins. Built from "
        "qc_status_long, which also keeps tags and keys outside this vocabulary.",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name, joinable with asset_basics.name."),
            *(
                Column(
                    key,
                    "string",
                    f"QC status of the {'modality' if key in records.MODALITIES else 'stage'} {key!r} "
                    f"(quality_control.status[{key!r}]).",
                )
                for key in rows.QC_STATUS_COLUMNS
            ),
        ),
        derived_from=("qc_status_long", "status"),
        derive=rows.qc_status_wide,
    ),
)

TABLES_BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}


def projection() -> list[str]:
    """Record fields every table needs together (dotted paths, no path inside another one)."""
    paths = sorted({f for table in TABLES for f in table.fields})
    return [p for p in paths if not any(p.startswith(other + ".") for other in paths if other != p)]


def get_table(name: str) -> Table:
    """Return the declaration of a published table.

    Raises
    ------
    InvalidInputError
        If no table has that name; the message lists the valid names.

    Notes
    -----
    ``"quality_control"`` (biodata-cache 0.42's name of ``qc``) is ``qc``.
    """
    if name == "quality_control":
        name = "qc"
    if not isinstance(name, str) or name not in TABLES_BY_NAME:
        raise InvalidInputError(
            f"{name!r} is not a biodata-cache table; valid tables: {', '.join(TABLES_BY_NAME)}."
        )
    return TABLES_BY_NAME[name]


def project(record: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    """The parts of a record at the given paths (split dotted paths), descending into lists.

    Like a MongoDB inclusion projection: what the tables need, without the bulky rest, so a record is
    cheap to send to a worker process.
    """
    result: dict[str, Any] = {}
    for key in dict.fromkeys(path[0] for path in paths):
        if key not in record:
            continue
        rest = [path[1:] for path in paths if path[0] == key]
        value = record[key]
        if any(not r for r in rest):
            result[key] = value
        elif isinstance(value, dict):
            result[key] = project(value, rest)
        elif isinstance(value, list):
            result[key] = [project(item, rest) if isinstance(item, dict) else item for item in value]
        else:
            result[key] = value
    return result
