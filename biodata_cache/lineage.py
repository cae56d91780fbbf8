"""Raw-asset lineage, and the choice of which QC metric rows the ``qc`` table keeps.

A derived asset's QC record usually repeats the metrics of the assets it was made from (a processed
asset carries the raw asset's metrics, often with a newer status), and an asset processed twice has two
chains of derived assets. Like biodata-cache 0.42, the ``qc`` table keeps, for each raw asset (a lineage
root):

1. **The newest chain per modality set.** Among the leaves of the root's lineage (descendants that no
   other descendant was derived from), the newest of each set of modalities is selected, with every asset
   between it and the root. Newest is the processing time in the asset's name, else the record's
   creation time, else its processing end time, else its acquisition start (compared as instants).
2. **Each metric once.** A metric (its ``metric_key``: name, modality, stage and tags) that several
   assets of the selected chains carry is kept at the one nearest the root (then the earliest, then by
   name); ``downstream_asset_names`` lists the others, nearest first.

Differences from 0.42, on purpose: metrics of one asset that share a key are all kept (0.42 kept one, so a
record with seven device checks of one test gave one row); the k-th of them matches the k-th of the same
key in another asset. Times are compared as instants, not as strings.

The rows of one asset are those of its record (:func:`biodata_cache.rows.qc_rows`); this module only
chooses among them, so it works on the rows of one ``qc`` partition (one subject) at a time: a chain whose
assets belong to different subjects is de-duplicated within each subject's partition.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
#: Names the rules above; part of the build's reading fingerprint, so a change of rules rebuilds ``qc``.
SELECTION = "newest chain per modality set; each metric once per (key, ordinal), at the nearest asset"


class Lineage:
    """Which asset was derived from which, with what each asset's place in a chain depends on.

    Parameters
    ----------
    parents
        Asset name -> names of the assets it was derived from, in the record's order.
    times
        Asset name -> the time that tells which of two chains is newer (see the module docstring).
    modalities
        Asset name -> its modalities (a chain is chosen per set of modalities).
    subjects
        Asset name -> its subject id (the ``qc`` partition its rows are in).
    """

    def __init__(
        self,
        parents: dict[str, list[str]],
        times: dict[str, dt.datetime | None],
        modalities: dict[str, tuple[str, ...]],
        subjects: dict[str, str | None] | None = None,
    ) -> None:
        self.parents = parents
        self.times = times
        self.modalities = modalities
        self.subjects = subjects or {}
        self.children: dict[str, list[str]] = collections.defaultdict(list)
        for child, sources in parents.items():
            for source in sources:
                if child not in self.children[source]:
                    self.children[source].append(child)
        self._roots: dict[str, list[str]] = {}
        self._chains: dict[str, tuple[dict[str, int], set[str]]] = {}

    @classmethod
    def from_tables(cls, asset_basics: pa.Table, source_data: pa.Table) -> Lineage:
        """The lineage described by the ``asset_basics`` and ``source_data`` tables of one build."""
        return cls(*_described(asset_basics, source_data))

    def with_assets_of(self, asset_basics: pa.Table, source_data: pa.Table, names: Iterable[str]) -> Lineage:
        """This lineage with what it says of the assets ``names`` taken from the rows of those names in
        ``asset_basics`` and ``source_data`` instead (rows of other names are not read).

        What the lineage says of an asset (its sources, time, modalities, subject) comes from the rows
        of its name only, so when two builds' tables differ only in rows of ``names``, the lineage of one
        build's tables is the other's with those assets replaced: the same as :meth:`from_tables` of the
        whole tables, at the cost of the rows of ``names`` (an incremental build's previous lineage).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = pa.array(sorted({n for n in names if n}), pa.string())

        def of_names(table: pa.Table) -> pa.Table:
            return table.filter(pc.is_in(table.column("name"), value_set=wanted))

        parents, times, modalities, subjects = _described(of_names(asset_basics), of_names(source_data))
        replaced = set(wanted.to_pylist())

        def merged(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
            kept = {name: value for name, value in mine.items() if name not in replaced}
            kept.update(theirs)
            return kept

        return Lineage(
            merged(self.parents, parents),
            merged(self.times, times),
            merged(self.modalities, modalities),
            merged(self.subjects, subjects),
        )

    def roots(self, name: str) -> list[str]:
        """The raw assets ``name`` descends from (itself if it names no source), first source first.

        A path that comes back to an asset already on it (a cycle in ``source_data``) leads to no root;
        an asset whose every path is a cycle is its own root.
        """
        found = self._roots.get(name)
        if found is None:
            found = self._roots[name] = self._find_roots(name, frozenset()) or [name]
        return found

    def _find_roots(self, name: str, seen: frozenset[str]) -> list[str]:
        if name in seen:
            return []
        sources = self.parents.get(name)
        if not sources:
            return [name]
        roots: list[str] = []
        for source in sources:
            for root in self._find_roots(source, seen | {name}):
                if root not in roots:
                    roots.append(root)
        return roots

    def _time(self, name: str) -> tuple[bool, dt.datetime]:
        when = self.times.get(name)
        return (when is not None, when or _EARLIEST)

    def partitions(self, root: str) -> set[str | None]:
        """Subjects of ``root`` and its descendants: the ``qc`` partitions that may hold its rows."""
        distance, _ = self.selection(root)
        return {self.subjects.get(name) for name in distance if name in self.subjects}

    def selection(self, root: str) -> tuple[dict[str, int], set[str]]:
        """Steps from ``root`` to each of its descendants, and the assets of its selected chains."""
        cached = self._chains.get(root)
        if cached is not None:
            return cached
        distance = {root: 0}
        queue = collections.deque([root])
        while queue:  # breadth first: an asset's distance is its shortest path from the root
            current = queue.popleft()
            for child in self.children.get(current, ()):
                if child not in distance:
                    distance[child] = distance[current] + 1
                    queue.append(child)
        leaves = [n for n in distance if not any(c in distance for c in self.children.get(n, ()))] or [root]
        newest: dict[tuple[str, ...], str] = {}
        for leaf in leaves:
            group = self.modalities.get(leaf, ())
            if group not in newest or (self._time(leaf), leaf) > (self._time(newest[group]), newest[group]):
                newest[group] = leaf
        selected: set[str] = set()
        pending = list(newest.values())
        while pending:
            current = pending.pop()
            if current in selected:
                continue
            selected.add(current)
            pending.extend(p for p in self.parents.get(current, ()) if p in distance)
        self._chains[root] = (distance, selected)
        return distance, selected

    def select_qc(self, metric_rows: pa.Table, only: set[str] | None = None) -> tuple[pa.Table, pa.Table]:
        """Split the metric rows of records (``qc`` columns) into the rows the table keeps and the rest.

        With ``only``, only the rows kept under those raw assets are chosen (the rows other raw assets
        keep are neither in ``kept`` nor known to be kept, so ``dropped`` is then of no use).

        Returns
        -------
        (kept, dropped)
            ``kept``: one row per metric per raw asset (see the module docstring), with
            ``raw_asset_name`` and ``downstream_asset_names`` set, ordered by subject, asset and metric
            index. ``dropped``: the rows of ``metric_rows`` that are in no kept row (an incremental build
            needs them to choose again when a record of the chain changes).
        """
        import pyarrow as pa

        columns = metric_rows.select(["subject_id", "asset_name", "metric_index", "metric_key"]).to_pydict()
        subjects, assets = columns["subject_id"], columns["asset_name"]
        indices, keys = columns["metric_index"], columns["metric_key"]
        rows_of: dict[tuple[str | None, str], list[int]] = collections.defaultdict(list)
        for row, (subject, asset) in enumerate(zip(subjects, assets, strict=True)):
            rows_of[(subject, asset)].append(row)
        groups: dict[tuple[str | None, str], list[str]] = collections.defaultdict(list)
        for subject, asset in rows_of:
            for root in self.roots(asset):
                if only is None or root in only:
                    groups[(subject, root)].append(asset)

        kept: list[tuple[str, str, int, str, int, list[str]]] = []
        for (subject, root), members in groups.items():
            distance, selected = self.selection(root)
            candidates: dict[tuple[str, int], list[tuple[int, tuple[bool, dt.datetime], str, int, int]]]
            candidates = collections.defaultdict(list)
            for asset in members:
                if asset not in selected:
                    continue
                order = self._time(asset)
                seen: collections.Counter[str] = collections.Counter()
                for row in sorted(rows_of[(subject, asset)], key=indices.__getitem__):
                    key = keys[row]
                    candidates[(key, seen[key])].append((distance[asset], order, asset, indices[row], row))
                    seen[key] += 1
            for found in candidates.values():
                if len(found) == 1:  # most metrics: carried by one asset only
                    origin = found[0]
                    kept.append((subject or "", origin[2], origin[3], root, origin[4], []))
                    continue
                origin = min(found)
                later = sorted({(d, t, a) for d, t, a, _, _ in found if a != origin[2]})
                kept.append((subject or "", origin[2], origin[3], root, origin[4], [a for _, _, a in later]))
        kept.sort(key=lambda item: item[:4])
        rows = [item[4] for item in kept]
        result = metric_rows.take(pa.array(rows, pa.int64()))
        result = _replace(result, "raw_asset_name", pa.array([item[3] for item in kept], pa.string()))
        result = _replace(
            result, "downstream_asset_names", pa.array([item[5] for item in kept], pa.list_(pa.string()))
        )
        import numpy as np

        mask = np.ones(metric_rows.num_rows, dtype=bool)  # the rows in no kept row
        mask[rows] = False
        return result, metric_rows.filter(pa.array(mask))


def _described(
    asset_basics: pa.Table, source_data: pa.Table
) -> tuple[
    dict[str, list[str]], dict[str, dt.datetime | None], dict[str, tuple[str, ...]], dict[str, str | None]
]:
    """(parents, times, modalities, subjects) of :class:`Lineage` from the rows of the two tables; what
    each says of an asset comes from the rows of its name only."""
    parents: dict[str, list[str]] = {}
    processed: dict[str, dt.datetime] = {}
    lineage = source_data.select(["name", "source_data", "processing_time"]).to_pydict()
    for name, source, when in zip(*lineage.values(), strict=True):
        if not name:
            continue
        if source and source != name and source not in parents.setdefault(name, []):
            parents[name].append(source)
        if when is not None and (name not in processed or when > processed[name]):
            processed[name] = when
    import pyarrow.compute as pc

    # The first of the three times that is not null, taken in arrow: one timestamp column to convert
    # to Python instead of three.
    first_time = pc.coalesce(
        *(asset_basics.column(c) for c in ("created", "process_date", "acquisition_start_time"))
    )
    basics = asset_basics.select(["name", "subject_id", "modalities"]).to_pydict()
    times: dict[str, dt.datetime | None] = {}
    modalities: dict[str, tuple[str, ...]] = {}
    subjects: dict[str, str | None] = {}
    for name, subject, kinds, when in zip(*basics.values(), first_time.to_pylist(), strict=True):
        if not name:
            continue
        subjects[name] = subject
        # Ignoring case first, then exactly: "Behavior" and "behavior" are in the same order in every
        # process (a set's order of equal-when-folded values depends on the string hash seed).
        modalities[name] = tuple(sorted(set(kinds or ()), key=lambda kind: (kind.casefold(), kind)))
        times[name] = processed.get(name) or when
    for name, when in processed.items():
        times.setdefault(name, when)
    return parents, times, modalities, subjects


def _replace(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def all_metric_rows(kept: pa.Table, dropped: Iterable[pa.Table]) -> pa.Table:
    """The metric rows of records again, from a partition's kept rows and its dropped rows.

    A kept row appears once per raw asset it is under; it is one metric of one record (its ``_id`` and
    ``metric_index`` identify it).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.count_distinct(kept.column("raw_asset_name")).as_py() <= 1:
        return pa.concat_tables([kept, *dropped])  # under one raw asset, each metric row is kept once
    columns = kept.select(["_id", "metric_index"]).to_pydict()
    first: dict[tuple[str, int], int] = {}
    for row, identity in enumerate(zip(columns["_id"], columns["metric_index"], strict=True)):
        first.setdefault(identity, row)
    unique = kept.take(pa.array(sorted(first.values()), pa.int64()))
    return pa.concat_tables([unique, *dropped])
