"""A deterministic generator of synthetic metadata records shaped like real AIND DocDB v2 records.

SYNTHETIC DATA: every id, name, subject and value is made up. The shapes follow the real records in
``shared/aind_records`` (and ``tests/data/aind_records``): raw assets with 0-5 derived assets, subjects with
1-200 assets, QC metrics from 0 to a few hundred per asset with every value shape (null, bool, int,
float, str, dict, list), tags as lists or dicts, timestamps in several ISO forms, and the missing or null
fields real records have (null project names, empty ``data_processes``, missing ``source_data``, empty
Code Ocean id lists, date of birth only in acquisition.subject_details).

The generator streams: :func:`generate` yields one record at a time and :func:`write_jsonl` writes them
to a ``.jsonl.gz`` file without holding the corpus. ``templates`` (real records) lend their QC metric
names, descriptions and tags; with ``bulky=0.1`` a tenth of the records also carry their large components
(procedures, instrument, acquisition data streams), giving record sizes from a few KB to a few hundred
KB. The bundled sample is slim.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

UTC = dt.timezone.utc
LABEL = "SYNTHETIC biodata-cache record: not real AIND data"

PROJECTS = (
    "Learning mFISH-V1omFISH",
    "Cognitive flexibility in patch foraging",
    "Thalamus in the middle",
    "Brain Computer Interface",
    "Dynamic Routing",
    "Single-neuron proteomics",
    "Discovery-Neuromodulator circuit dynamics during foraging",
    None,
)
MODALITIES = {
    "ecephys": "Extracellular electrophysiology",
    "pophys": "Planar optical physiology",
    "behavior": "Behavior",
    "behavior-videos": "Behavior videos",
    "fib": "Fiber photometry",
    "SPIM": "Selective plane illumination microscopy",
}
PLATFORMS = {
    "ecephys": ("ecephys", ["ecephys", "behavior-videos"]),
    "multiplane-ophys": ("multiplane-ophys", ["pophys", "behavior-videos"]),
    "behavior": ("behavior", ["behavior", "behavior-videos"]),
    "FIP": ("FIP", ["fib", "behavior"]),
    "SmartSPIM": ("SmartSPIM", ["SPIM"]),
}
GENOTYPES = (
    "wt/wt",
    "Slc32a1-IRES-Cre/wt;Oi1(TIT2L-jGCaMP8s-WPRE-ICL-IRES-tTA2)/wt",
    "Sst-IRES-Cre/wt;Ai148(TIT2L-GC6f-ICL-tTA2)/wt",
    "Vip-IRES-Cre/wt",
    None,
)
PEOPLE = ("Ada Lovelace", "Santiago Ramon y Cajal", "Camillo Golgi", "Rita Levi-Montalcini", "unknown user")
STATUSES = ("Pass", "Fail", "Pending")
STAGES = ("Raw data", "Processing", "Analysis")


def _time_text(moment: dt.datetime, rng: random.Random) -> str:
    """A time in one of the ISO forms real records use."""
    form = rng.random()
    if form < 0.6:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    if form < 0.8:
        return moment.isoformat(sep=" ")
    if form < 0.9:
        return moment.astimezone(dt.timezone(dt.timedelta(hours=-7))).isoformat(sep=" ")
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d_%H-%M-%S")


def _value(rng: random.Random) -> Any:
    shape = rng.randrange(8)
    if shape == 0:
        return None
    if shape == 1:
        return rng.random() < 0.5
    if shape == 2:
        return rng.randrange(-5, 10_000)
    if shape == 3:
        return round(rng.uniform(-1, 100), 4)
    if shape == 4:
        return rng.choice(["ok", "drift detected", "", "NaN"])
    if shape == 5:
        return {"value": rng.choice([None, "Pass"]), "options": ["Pass", "Fail"], "type": "dropdown"}
    if shape == 6:
        return [round(rng.random(), 3) for _ in range(rng.randrange(1, 5))]
    return {"b": rng.randrange(3), "a": {"nested": [1, 2]}, "unit": "um"}


def vocabulary(templates: list[dict] | None) -> list[tuple[str, Any, Any]]:
    """(name, description, tags) of every QC metric in real records, to name synthetic metrics."""
    found = []
    for record in templates or []:
        for metric in (record.get("quality_control") or {}).get("metrics") or []:
            if isinstance(metric, dict) and metric.get("name"):
                found.append((metric["name"], metric.get("description"), metric.get("tags")))
    return found


def _metrics(
    rng: random.Random,
    modalities: list[str],
    start: dt.datetime,
    count: int,
    words: list[tuple[str, Any, Any]],
) -> list[dict]:
    metrics = []
    for index in range(count):
        modality = rng.choice(modalities)
        history = []
        moment = start + dt.timedelta(hours=rng.randrange(1, 200))
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            history.append(
                {
                    "object_type": "QC status",
                    "evaluator": rng.choice(["Automated", "Pending review", rng.choice(PEOPLE)]),
                    "status": rng.choice(STATUSES),
                    "timestamp": _time_text(moment, rng),
                }
            )
            moment += dt.timedelta(hours=rng.randrange(1, 72))
        tags: Any = {"probe": f"Probe{chr(65 + index % 4)}"} if rng.random() < 0.5 else [f"group_{index % 5}"]
        name, description = f"{modality} metric {index}", f"Synthetic check {index} of {modality}."
        if words:
            name, description, tags = words[index % len(words)]
            name = name if index < len(words) else f"{name} #{index // len(words)}"
        metrics.append(
            {
                "object_type": "QC metric",
                "name": name,
                "modality": {"name": MODALITIES[modality], "abbreviation": modality},
                "stage": rng.choice(STAGES),
                "value": _value(rng),
                "status_history": history,
                "description": description if rng.random() < 0.9 else None,
                "reference": None,
                "tags": tags if rng.random() < 0.95 else None,
                "evaluated_assets": None,
            }
        )
    return metrics


def _metric_count(rng: random.Random, max_metrics: int) -> int:
    draw = rng.random()
    if draw < 0.2:
        return 0
    if draw < 0.9:
        return rng.randrange(1, max(2, max_metrics // 10))
    return rng.randrange(1, max_metrics + 1)


class _Generator:
    def __init__(self, seed: int, templates: list[dict] | None, max_metrics: int, bulky: float) -> None:
        self.rng = random.Random(seed)
        self.templates = (templates or []) if bulky else []
        self.bulky = float(bulky)
        self.words = vocabulary(templates)
        self.max_metrics = max_metrics
        self.heavy = False

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def bulk(self, component: str) -> Any:
        if not self.heavy:
            return None
        template = self.rng.choice(self.templates).get(component)
        # A shallow copy is enough: only top-level keys of the copy are replaced.
        return dict(template) if isinstance(template, dict) else None

    def record(
        self,
        *,
        name: str,
        subject: dict,
        project: Any,
        modalities: list[str],
        level: str,
        start: dt.datetime,
        sources: list[str] | None,
        created: dt.datetime,
    ) -> dict[str, Any]:
        rng = self.rng
        self.heavy = bool(self.templates) and rng.random() < self.bulky
        processing_steps = []
        if rng.random() > 0.1:
            end = created - dt.timedelta(minutes=rng.randrange(5, 120))
            processing_steps.append(
                {
                    "object_type": "Data process",
                    "process_type": "Compression" if level == "raw" else "Pipeline",
                    "name": "Pipeline",
                    "stage": "Processing",
                    "experimenters": [rng.choice(PEOPLE)],
                    "pipeline_name": rng.choice(
                        [None, "transform_and_upload_v2", f"{modalities[0]}-pipeline"]
                    ),
                    "start_date_time": _time_text(end - dt.timedelta(minutes=30), rng),
                    "end_date_time": _time_text(end, rng),
                    "code": {"url": "https://github.com/AllenNeuralDynamics/example", "version": "1.0"},
                }
            )
        acquisition: dict[str, Any] = self.bulk("acquisition") or {}
        acquisition.update(
            {
                "object_type": "Acquisition",
                "subject_id": subject["subject_id"],
                "acquisition_start_time": _time_text(start, rng),
                "acquisition_end_time": _time_text(start + dt.timedelta(minutes=rng.randrange(10, 120)), rng),
                "acquisition_type": rng.choice(["AindVrForaging", "OPHYS_2_images_A_passive", "Ecephys"]),
                "instrument_id": rng.choice(["4A", "429-mesoscope-20220321", "NP3", None]),
                "experimenters": [rng.choice(PEOPLE)],
                "subject_details": {"object_type": "Acquisition subject details"},
            }
        )
        if subject["dob_in_acquisition"]:
            acquisition["subject_details"]["date_of_birth"] = subject["date_of_birth"]
        instrument = self.bulk("instrument") or {"object_type": "Instrument"}
        instrument["instrument_id"] = acquisition["instrument_id"]
        metrics = _metrics(rng, modalities, start, _metric_count(rng, self.max_metrics), self.words)
        statuses = {m: rng.choice(STATUSES) for m in modalities} | {"Processing": rng.choice(STATUSES)}
        record: dict[str, Any] = {
            "_id": self.uuid(),
            "object_type": "Metadata",
            "schema_version": "2.2.2",
            "name": name,
            "location": f"s3://aind-open-data/{name}",
            "other_identifiers": rng.choice(
                [
                    {"Code Ocean": [self.uuid()]},
                    {"Code Ocean": []},
                    None,
                    {"Code Ocean": [self.uuid(), self.uuid()]},
                ]
            ),
            "subject": {
                "object_type": "Subject",
                "subject_id": subject["subject_id"],
                "subject_details": {
                    "object_type": "Mouse subject",
                    "genotype": subject["genotype"],
                    "date_of_birth": None if subject["dob_in_acquisition"] else subject["date_of_birth"],
                    "sex": rng.choice(["Male", "Female"]),
                },
            },
            "data_description": {
                "object_type": "Data description",
                "subject_id": subject["subject_id"],
                "creation_time": _time_text(created, rng),
                "name": name,
                "data_level": level,
                "project_name": project,
                "modalities": [{"name": MODALITIES[m], "abbreviation": m} for m in modalities],
                "investigators": [{"object_type": "Person", "name": rng.choice(PEOPLE)}],
                "tags": None,
            },
            "procedures": self.bulk("procedures")
            or ({"object_type": "Procedures"} if rng.random() < 0.8 else None),
            "instrument": instrument,
            "processing": {"object_type": "Processing", "data_processes": processing_steps, "pipelines": []},
            "acquisition": acquisition,
            "quality_control": (
                {"object_type": "Quality control", "metrics": metrics, "status": statuses}
                if metrics
                else None
            ),
            "notes": LABEL,
            "_created": _time_text(created, rng),
            "_last_modified": (created + dt.timedelta(hours=rng.randrange(0, 500))).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )[:-3]
            + "Z",
        }
        if sources is not None:
            record["data_description"]["source_data"] = sources
        return record


def _assets_per_subject(rng: random.Random, count: int) -> int:
    """Heavy-tailed: most subjects have a few assets, some up to 200 (at most 5% of a small corpus)."""
    return min(200, max(5, count // 20), max(1, int(rng.paretovariate(1.2))))


def generate(
    count: int,
    *,
    seed: int = 0,
    templates: list[dict] | None = None,
    bulky: float = 0.0,
    max_metrics: int = 300,
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` synthetic records, deterministically from ``seed``.

    Parameters
    ----------
    count
        Number of records.
    seed
        Random seed: the same seed gives the same records.
    templates
        Real records: their QC metric names, descriptions and tags name the synthetic metrics.
    bulky
        Fraction of records (0 to 1) that also carry a template's bulky components (procedures,
        instrument, acquisition data streams): those records weigh tens to hundreds of KB, the others a
        few KB.
    max_metrics
        Upper bound of QC metrics per asset.
    """
    generator = _Generator(seed, templates, max_metrics, bulky)
    rng = generator.rng
    produced = 0
    subject_number = 600000
    epoch = dt.datetime(2022, 1, 1, tzinfo=UTC)
    while produced < count:
        subject_number += rng.randrange(1, 997)
        birth = epoch + dt.timedelta(days=rng.randrange(0, 1200))
        subject = {
            "subject_id": str(subject_number),
            "genotype": rng.choice(GENOTYPES),
            "date_of_birth": birth.date().isoformat(),
            "dob_in_acquisition": rng.random() < 0.1,
        }
        project = rng.choice(PROJECTS)
        platform, modalities = PLATFORMS[rng.choice(sorted(PLATFORMS))]
        budget = _assets_per_subject(rng, count)
        session_start = birth + dt.timedelta(days=rng.randrange(40, 120))
        while budget > 0 and produced < count:
            start = (session_start + dt.timedelta(seconds=rng.randrange(0, 86400))).replace(microsecond=0)
            raw_name = f"{platform}_{subject['subject_id']}_{_stamp(start)}"
            created = start + dt.timedelta(hours=rng.randrange(2, 30))
            yield generator.record(
                name=raw_name,
                subject=subject,
                project=project,
                modalities=modalities,
                level="raw",
                start=start,
                sources=None,
                created=created,
            )
            produced += 1
            budget -= 1
            for _ in range(min(rng.choice((0, 1, 1, 1, 2, 3, 5)), budget)):
                if produced >= count:
                    break
                processed = created + dt.timedelta(hours=rng.randrange(1, 2000), seconds=rng.randrange(60))
                derived_name = f"{raw_name}_processed_{_stamp(processed)}"
                sources = None if rng.random() < 0.02 else [raw_name]
                yield generator.record(
                    name=derived_name,
                    subject=subject,
                    project=project,
                    modalities=modalities[:1] if rng.random() < 0.5 else modalities,
                    level="derived",
                    start=start,
                    sources=sources,
                    created=processed + dt.timedelta(minutes=5),
                )
                produced += 1
                budget -= 1
            session_start += dt.timedelta(days=rng.randrange(1, 5))


def write_jsonl(path: str | os.PathLike[str], records: Iterator[dict[str, Any]]) -> int:
    """Stream records to a ``.jsonl.gz`` (or ``.jsonl``) file; return how many were written.

    The file is written to a temporary name and moved into place, so a failed run leaves no partial
    corpus behind.
    """
    path = os.fspath(path)
    temporary = f"{path}.tmp"
    written = 0
    with open(temporary, "wb") as raw:
        # No file name and mtime=0 in the gzip header keep the bytes deterministic.
        binary = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if path.endswith(".gz") else raw
        with io.TextIOWrapper(binary, encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
                written += 1
    os.replace(temporary, path)
    return written


#: Parameters of the bundled sample (``builders/make_sample.py``).
SAMPLE_COUNT, SAMPLE_SEED, SAMPLE_MAX_METRICS = 400, 20261124, 60


def write_sample(path: str | os.PathLike[str], templates: list[dict]) -> int:
    """Write the bundled sample corpus (fixed count and seed) using ``templates`` for metric names."""
    records = generate(SAMPLE_COUNT, seed=SAMPLE_SEED, templates=templates, max_metrics=SAMPLE_MAX_METRICS)
    return write_jsonl(path, records)
