"""A store too large to build here, made from a built one: its per-asset tables repeated with new subjects.

Copy ``k`` of every row gets subject id ``int(subject) + k * SUBJECT_OFFSET`` (non-numeric ids get a
``~k`` suffix), and every asset name that embeds a subject id (AIND names:
``<platform>_<subject>_<date>_<time>``,
derived names ``<raw name>_<process>_<date>_<time>``) is rewritten with the new id, consistently in every
table, so lineage (``source_data``) and filters by subject still join. Names without a subject id and
record ids get a ``~k`` suffix. The tables are written with :meth:`biodata_cache.store.Store.write_parquet`,
the writer the builder uses, so a replicated store has the builder's file layout.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from biodata_cache.store import Store

SUBJECT_OFFSET = 10_000_000
# Tables the read benchmarks read; the others are copied unchanged.
REPLICATED_TABLES = ("asset_basics", "source_data", "metadata_core", "qc_status", "time_to_qc")
SUBJECT_COLUMNS = ("subject_id",)
NAME_COLUMNS = ("name", "asset_name", "raw_asset_name", "source_data", "input_data_name")
ID_COLUMNS = ("_id",)
_SUBJECT_IN_NAME = re.compile(r"(?<=_)(\d{4,8})(?=_)")


def new_subject(subject: str | None, copy: int) -> str | None:
    """The subject id of ``subject`` in copy ``copy`` (copy 0 is the original)."""
    if subject is None or copy == 0:
        return subject
    return str(int(subject) + copy * SUBJECT_OFFSET) if subject.isdigit() else f"{subject}~{copy}"


def new_name(name: str | None, copy: int) -> str | None:
    """An asset name of copy ``copy``: its embedded subject id rewritten, else a ``~copy`` suffix."""
    if name is None or copy == 0:
        return name
    renamed, count = _SUBJECT_IN_NAME.subn(
        lambda match: str(int(match.group(1)) + copy * SUBJECT_OFFSET), name, count=1
    )
    return renamed if count else f"{name}~{copy}"


def _rewritten(table: pa.Table, copy: int) -> pa.Table:
    import pyarrow as pa

    for column, rewrite in (
        *((c, new_subject) for c in SUBJECT_COLUMNS),
        *((c, new_name) for c in NAME_COLUMNS),
        *((c, lambda v, k: None if v is None else f"{v}~{k}") for c in ID_COLUMNS),
    ):
        if column not in table.column_names or not pa.types.is_string(table.schema.field(column).type):
            continue
        index = table.schema.get_field_index(column)
        values = [rewrite(v, copy) for v in table.column(column).to_pylist()]
        table = table.set_column(index, table.schema.field(column), pa.array(values, pa.string()))
    return table


def write_like_the_builder(store: Store, relpath: str, name: str, table: pa.Table) -> None:
    """Write table ``name``'s file as the builder writes it: in its declared layout
    (:func:`biodata_cache.clustered.parquet_bytes`: ``asset_basics`` and ``source_data`` sorted, in
    small row groups, with the lookup index in the footer), and its projections next to it under the
    same build id (the copied ones of the original store would answer with its rows), so the
    replicated store reads like a built one."""
    from biodata_cache.clustered import parquet_bytes, projection_bytes
    from biodata_cache.release import projection_file
    from biodata_cache.tables import TABLES_BY_NAME

    declared = TABLES_BY_NAME[name]
    store.write_bytes(relpath, parquet_bytes(declared, table))
    folder, _, file = relpath.rpartition("/")
    build = file.removeprefix(f"{name}-").removesuffix(".pqt")
    for columns in declared.projections:
        target = f"{folder}/{projection_file(name, columns[0], build)}"
        store.write_bytes(target, projection_bytes(declared, table, columns))


def replicated_store(source: Path, target: Path, assets: int) -> Path:
    """A local store at ``target``: ``source`` with its per-asset tables repeated up to ``assets`` rows.

    The qc table keeps 200 partitions (reading one partition does not depend on the table's size);
    ``unique_subject_ids`` is recomputed from the replicated ``asset_basics``. Kept between runs while
    ``source``'s registry is the one it was made from (a file beside it names that registry's hash); remade
    when ``source`` was rebuilt.
    """
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from biodata_cache.store import Store

    made_from = hashlib.sha256((source / "bdc-v0.1" / "cache_registry.json").read_bytes()).hexdigest()
    marker = target.with_name(target.name + ".source")
    if (target / "catalog.yaml").exists() and marker.exists() and marker.read_text() == made_from:
        return target
    marker.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("qc", "_build"))
    folder = target / "bdc-v0.1"
    (folder / "qc").mkdir()
    for partition in sorted((source / "bdc-v0.1" / "qc").iterdir())[:200]:
        shutil.copytree(partition, folder / "qc" / partition.name)
    for manifest in (folder / "_manifests").glob("qc-*.json"):  # the manifest names the kept partitions
        document = json.loads(manifest.read_text())
        kept = {p.name for p in (folder / "qc").iterdir()}
        document["files"] = {k: v for k, v in document["files"].items() if k in kept}
        manifest.write_text(json.dumps(document))
    (basics,) = folder.glob("asset_basics-*.pqt")
    factor = max(1, assets // pq.read_metadata(basics).num_rows)
    store = Store(str(target))
    for name in REPLICATED_TABLES:
        for path in folder.glob(f"{name}-*.pqt"):
            table = pq.read_table(path)
            replicated = pa.concat_tables([_rewritten(table, k) for k in range(factor)])
            write_like_the_builder(store, f"bdc-v0.1/{path.name}", name, replicated)
    for path in folder.glob("unique_subject_ids-*.pqt"):
        original = pq.read_table(path)
        subjects = pq.read_table(next(folder.glob("asset_basics-*.pqt")), columns=["subject_id"])
        values = pc.unique(subjects.column("subject_id").drop_null()).sort()
        column = original.schema.field(0)
        table = pa.table({column.name: values.cast(column.type)}).replace_schema_metadata(
            original.schema.metadata
        )
        write_like_the_builder(store, f"bdc-v0.1/{path.name}", "unique_subject_ids", table)
    marker.write_text(made_from)
    return target
