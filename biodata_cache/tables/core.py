"""Core tables: one row per asset (``asset_basics``), its sources (``source_data``), which core metadata
files it has (``metadata_core``), and the distinct values users pick from (``unique_*``).

Their row functions are in :mod:`biodata_cache.rows`.
"""

from __future__ import annotations

from biodata_cache import rows
from biodata_cache.tables.declaration import (
    ID_COLUMN,
    LAST_MODIFIED_COLUMN,
    ROW_RECORD_COLUMN,
    Column,
    Table,
    record_paths,
)


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
            ID_COLUMN,
            LAST_MODIFIED_COLUMN,
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
        fields=record_paths(
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
        clustered_by=("subject_id", "name"),
        indexed_by=("project_name",),
        names_embed=("name", "subject_id"),
        projections=(("project_name", "subject_id", "name"),),
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
            ROW_RECORD_COLUMN,
        ),
        fields=record_paths("_id", "name", "source_data", "pipeline_name"),
        rows=rows.source_data_rows,
        record_key="_id",
        clustered_by=("source_data", "name"),
    ),
    Table(
        name="metadata_core",
        description="Which core metadata files each asset has: one row per asset, one boolean per file.",
        kind="frame",
        columns=(
            Column("name", "string", "Asset name."),
            ID_COLUMN,
            LAST_MODIFIED_COLUMN,
            Column("subject", "bool", "Has subject metadata."),
            Column("data_description", "bool", "Has data_description metadata."),
            Column("procedures", "bool", "Has procedures metadata."),
            Column("instrument", "bool", "Has instrument metadata (v1: rig)."),
            Column("acquisition", "bool", "Has acquisition metadata (v1: session)."),
            Column("processing", "bool", "Has processing metadata."),
            Column("quality_control", "bool", "Has quality_control metadata."),
        ),
        fields=record_paths("_id", "name", "last_modified", "core_files"),
        rows=rows.metadata_core_rows,
        record_key="_id",
    ),
)
