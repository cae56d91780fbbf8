"""A deterministic generator of synthetic metadata records shaped like real AIND DocDB records.

SYNTHETIC DATA: every id, name, subject and value is made up. The shapes follow the real records in
``shared/aind_records`` (and ``tests/data/aind_records``, with ``real/`` for the v1 and hybrid shapes): raw
assets with 0-5 derived assets, subjects with 1-200 assets, QC metrics from 0 to a few hundred per asset
with every value shape (null, bool, int, float, str, dict, list), tags as lists or dicts, timestamps in
several ISO forms, and the missing or null fields real records have (null project names, empty
``data_processes``, missing ``source_data``, empty Code Ocean id lists, date of birth only in
acquisition.subject_details).

DocDB holds three record shapes (``docs/reference/record-shapes.md``) and so does the corpus:

- **v2** (aind-data-schema 2.x): ``_created`` / ``_last_modified``, ``other_identifiers``,
  ``acquisition``, ``instrument``, ``data_description.modalities`` and ``source_data``,
  ``quality_control.metrics``. A few carry ``last_modified`` instead of ``_last_modified``.
- **v1** (0.x and 1.x): ``created`` / ``last_modified`` (often without an offset), ``external_links``,
  ``session`` and ``rig`` (SPIM: a v1 ``acquisition`` with ``session_start_time`` without offset, and
  ``instrument``), ``subject.genotype`` and ``subject.date_of_birth``, ``data_description.modality``
  (objects, or a bare string such as ``"SmartSPIM"`` in 0.x) with legacy names (``SmartSPIM``,
  ``exaSPIM``, ``FIP``, ``trained-behavior``, ``slap``, ``ophys``), ``"raw data"`` / ``"derived data"``
  in some 0.x records, ``data_description.input_data_name``, ``processing.processing_pipeline`` (0.x:
  ``data_processes`` at the top of ``processing``) and ``quality_control.evaluations[].metrics[]``.
  Subjects on the legacy exaSPIM and SLAP2 platforms have v1 records only.
- **hybrid**: a v1 top level (``created``, ``last_modified``, ``external_links``, ``session`` / ``rig``)
  with 2.x parts (``data_description.modalities``, ``subject.subject_details``, ``acquisition``,
  ``processing.data_processes``, ``quality_control.metrics``).

Every record is first generated as v2, then written in its shape with a second random stream: the v2
records are the records earlier versions of this module generated (``shapes={"v2": 1}`` and
``v2_last_modified=0`` give those corpora byte for byte), and a v1 or hybrid record holds the same asset
(name, subject, times, modalities, QC metrics in the same order, Code Ocean ids, lineage) in its own
shape; a third of the v1 records are 0.x, which had no QC (``quality_control`` null). Lineage is
consistent across shapes: a derived record's source (``source_data`` or ``input_data_name``) is the name
of a raw record of the corpus, whatever shape either is in.

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
import itertools
import json
import os
import random
import uuid
from collections.abc import Iterator, Mapping
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
        _fiber_photometry(record, modalities)
        return record


#: Targets, measurements and patch cord channels of the synthetic fiber photometry assets (as in the real
#: records v2_fib_derived_qc_fiber3.json and v1mix_fib_derived_qc_dd2.json).
FIBER_TARGETS = ("PL", "ACB", "ORBl", "ORBm", "VTA", "root")
FIBER_MEASUREMENTS = ("calcium", "dopamine", "serotonin", "acetylcholine", "control", None)
FIBER_CHANNELS = ("Green", "Isosbestic", "Red")


def _fiber_photometry(record: dict[str, Any], modalities: list[str]) -> None:
    """Give a fiber photometry asset (modality ``fib``) its fibers, for the platform tables: probe implants
    of fiber probes in ``procedures.subject_procedures`` (target structure, implant translation) and, in
    ``acquisition.data_streams``, the patch cords connected to them with their channels.

    Drawn from a random stream of the asset's own (seeded by its name), so every other value of every
    record stays what earlier versions of this module generated.
    """
    if "fib" not in modalities:
        return
    rng = random.Random(f"fib:{record['name']}")
    fibers = range(rng.randrange(1, 5))
    implants = [
        {
            "object_type": "Probe implant",
            "implanted_device": {"object_type": "Fiber probe", "name": f"Fiber_{i}"},
            "device_config": {
                "object_type": "Probe config",
                "primary_targeted_structure": {"atlas": "CCFv3", "acronym": rng.choice(FIBER_TARGETS)},
                "transform": [
                    {
                        "object_type": "Translation",
                        "translation": [
                            round(rng.uniform(-3, 3), 1),
                            round(rng.uniform(-3, 3), 1),
                            0,
                            round(rng.uniform(1, 5), 1),
                        ],
                    }
                ],
            },
        }
        for i in fibers
    ]
    procedures = dict(record.get("procedures") or {"object_type": "Procedures"})
    procedures["subject_procedures"] = [
        {
            "object_type": "Surgery",
            "coordinate_system": {
                "object_type": "Coordinate system",
                "name": "BREGMA_ARID",
                "origin": "Bregma",
                "axis_unit": "millimeter",
                "axes": [{"object_type": "Axis", "name": axis} for axis in ("AP", "ML", "SI", "Depth")],
            },
            "procedures": implants,
        }
    ]
    record["procedures"] = procedures
    record["acquisition"]["data_streams"] = [
        {
            "object_type": "Data stream",
            "modalities": [{"name": MODALITIES["fib"], "abbreviation": "fib"}],
            "connections": [
                {
                    "object_type": "Connection",
                    "source_device": f"Patch Cord {i}",
                    "target_device": f"Fiber {i}",
                }
                for i in fibers
            ],
            "configurations": [
                {
                    "object_type": "Patch cord config",
                    "device_name": f"Patch Cord {i}",
                    "channels": [
                        {
                            "object_type": "Channel",
                            "channel_name": f"Fiber_{i}_{color}",
                            "intended_measurement": rng.choice(FIBER_MEASUREMENTS),
                        }
                        for color in FIBER_CHANNELS
                    ],
                }
                for i in fibers
            ],
        }
    ]


# -- v1 and hybrid shapes -------------------------------------------------------------------------------
#
# A record is generated as v2 by _Generator (its random stream is the one earlier versions used), then
# _Shaper writes it as v1 or hybrid with its own random stream. The vocabularies below follow the real
# records in tests/data/aind_records/real.

SHAPES = ("v2", "v1", "hybrid")
#: Default share of each record shape (see :func:`generate` for why these numbers).
DEFAULT_SHAPES = {"v2": 0.65, "v1": 0.25, "hybrid": 0.10}
#: Share of the v2 records whose envelope time is ``last_modified`` instead of ``_last_modified``.
DEFAULT_V2_LAST_MODIFIED = 0.05
#: Legacy platforms whose subjects have v1 records only: (name prefix, platform object, modality spelling).
LEGACY_PLATFORMS = {
    "SmartSPIM": ("exaSPIM", {"name": "ExaSPIM platform", "abbreviation": "exaSPIM"}),
    "multiplane-ophys": ("SLAP2", {"name": "SLAP2 platform", "abbreviation": "SLAP2"}),
}
#: Part of the v1 share that goes to the subjects of the legacy platforms.
LEGACY_PART_OF_V1 = 0.2
PLATFORM_OBJECTS = {
    "ecephys": {"name": "Electrophysiology platform", "abbreviation": "ecephys"},
    "multiplane-ophys": {
        "name": "Multiplane optical physiology platform",
        "abbreviation": "multiplane-ophys",
    },
    "behavior": {"name": "Behavior platform", "abbreviation": "behavior"},
    "FIP": {"name": "Frame-projected independent-fiber photometry platform", "abbreviation": "FIP"},
    "SmartSPIM": {"name": "SmartSPIM platform", "abbreviation": "SmartSPIM"},
}
#: v1 spellings of today's abbreviations that aind-metadata-upgrader maps back (0.x records).
LEGACY_MODALITIES = {
    "fib": {"name": "Frame-projected independent-fiber photometry", "abbreviation": "FIP"},
    "pophys": {"name": "Optical physiology", "abbreviation": "ophys"},
    "behavior": {"name": "Trained behavior", "abbreviation": "trained-behavior"},
}
SLAP_MODALITIES = {
    "pophys": {"name": "Scanned line projection imaging", "abbreviation": "slap"},
    "behavior-videos": {"name": "Behavior", "abbreviation": "behavior"},
}
EVALUATION_NAMES = (
    "Data length check",
    "Complete Synchronization Pulse",
    "No NaN values in data",
    "CMOS Floor signal",
    "dropped frames check",
    "Lick Intervals",
    "Side bias",
    "Session Length Check",
    "Basic Configuration",
    "Motion Correction FOV Quality",
)
#: v1 process names of a derived asset's steps, by its first modality.
DERIVED_PROCESSES = {
    "ecephys": ("Ephys preprocessing", "Spike sorting"),
    "pophys": ("Video motion correction", "Video ROI segmentation"),
    "behavior": ("Analysis", "Other"),
    "fib": ("dF/F estimation", "Other"),
    "SPIM": ("Image tile fusing", "Image cell segmentation"),
}
SCHEMA_SOURCE = "https://raw.githubusercontent.com/AllenNeuralDynamics/aind-data-schema/main/src"
DESCRIBED_BY = f"{SCHEMA_SOURCE}/aind_data_schema"
METADATA_STATUSES = ("Valid", "Invalid", "Missing", "Unknown")
# Fields of a v2 acquisition / instrument the v1 shapes write under their own names.
V2_ACQUISITION_FIELDS = {
    "object_type",
    "subject_id",
    "acquisition_start_time",
    "acquisition_end_time",
    "acquisition_type",
    "instrument_id",
    "experimenters",
    "subject_details",
}


def _moment(text: str) -> dt.datetime:
    """The instant of an ISO time this module wrote (Python 3.10 reads no ``Z``)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pacific(moment: dt.datetime) -> dt.datetime:
    """The instant in the lab's zone, America/Los_Angeles (US daylight saving rules since 2007)."""
    utc = moment.astimezone(UTC)
    march = dt.datetime(utc.year, 3, 8, 10, tzinfo=UTC)  # 2:00 PST on the second Sunday of March
    march += dt.timedelta(days=(6 - march.weekday()) % 7)
    november = dt.datetime(utc.year, 11, 1, 9, tzinfo=UTC)  # 2:00 PDT on the first Sunday of November
    november += dt.timedelta(days=(6 - november.weekday()) % 7)
    hours = -7 if march <= utc < november else -8
    return utc.astimezone(dt.timezone(dt.timedelta(hours=hours)))


def _envelope_text(moment: dt.datetime, rng: random.Random, naive: float) -> str:
    """A v1 envelope time (``created`` / ``last_modified``): UTC, often written without an offset."""
    utc = moment.astimezone(UTC) + dt.timedelta(microseconds=rng.randrange(1_000_000))
    form = rng.random()
    if form < naive:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if form < naive + (1 - naive) / 2:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if rng.random() < 0.5 else f".{utc.microsecond:06d}Z")


def _extras(component: Any, known: set[str]) -> dict[str, Any]:
    """The bulky parts of a generated component (data streams, devices) that a v1 shape keeps."""
    if not isinstance(component, dict):
        return {}
    return {key: value for key, value in component.items() if key not in known}


def _latest_status(metrics: list[dict]) -> str:
    latest = [(m.get("status_history") or [{}])[-1].get("status") for m in metrics]
    if "Fail" in latest:
        return "Fail"
    return "Pending" if any(status != "Pass" for status in latest) else "Pass"


class _Shaper:
    """Writes a generated v2 record as v1 or hybrid, with its own random stream."""

    def __init__(self, seed: int, shapes: Mapping[str, float] | None, v2_last_modified: float) -> None:
        shares = dict(DEFAULT_SHAPES if shapes is None else shapes)
        unknown = sorted(set(shares) - set(SHAPES))
        if unknown:
            raise ValueError(f"shapes: unknown shape {unknown[0]!r}: expected some of {', '.join(SHAPES)}")
        if any(not isinstance(v, (int, float)) or v < 0 for v in shares.values()) or not sum(shares.values()):
            raise ValueError(f"shapes: expected shares >= 0 with a positive sum, found {shares!r}")
        if not 0 <= v2_last_modified <= 1:
            raise ValueError(f"v2_last_modified: expected a fraction from 0 to 1, found {v2_last_modified!r}")
        total = sum(shares.values())
        self.shares = {shape: shares.get(shape, 0) / total for shape in SHAPES}
        self.v2_last_modified = v2_last_modified
        self.rng = random.Random(f"biodata-cache record shapes {seed}")
        # Subjects of a legacy platform are v1 throughout: they take a fixed part of the v1 share, the
        # other records are drawn so that each shape keeps its share in expectation.
        legacy_records = LEGACY_PART_OF_V1 * self.shares["v1"]
        self.legacy_subjects = legacy_records * len(PLATFORMS) / len(LEGACY_PLATFORMS)
        rest = 1 - legacy_records
        self.weights = [
            (self.shares["v1"] - legacy_records) / rest if shape == "v1" else self.shares[shape] / rest
            for shape in SHAPES
        ]

    def legacy(self, platform: str) -> str | None:
        """The legacy platform (exaSPIM, SLAP2) a new subject of ``platform`` is on, if any."""
        draw = self.rng.random()
        if platform in LEGACY_PLATFORMS and draw < self.legacy_subjects:
            return LEGACY_PLATFORMS[platform][0]
        return None

    def shape(self, record: dict[str, Any], platform: str, legacy: str | None) -> dict[str, Any]:
        rng = self.rng
        shape = rng.choices(SHAPES, self.weights)[0]
        if legacy:
            return self.v1(record, platform, legacy)
        if shape == "v2":
            if rng.random() < self.v2_last_modified:
                record["last_modified"] = record.pop("_last_modified")
            return record
        if shape == "v1":
            return self.v1(record, platform, None)
        return self.hybrid(record, platform)

    # -- parts shared by both shapes ------------------------------------------------------------------

    def v1_subject(self, record: dict[str, Any], schema_version: str) -> dict[str, Any]:
        details = record["subject"]["subject_details"]
        in_acquisition = record["acquisition"]["subject_details"] or {}
        birth = details["date_of_birth"] or in_acquisition.get("date_of_birth")
        return {
            "schema_version": schema_version,
            "subject_id": record["subject"]["subject_id"],
            "sex": details["sex"],
            "date_of_birth": birth,
            "genotype": details["genotype"],
        }

    def session_and_rig(
        self, record: dict[str, Any], spelled: list[Any], rig_id: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A v1 ``session`` (times with the lab's offset) and ``rig`` from the v2 acquisition."""
        rng = self.rng
        acquisition = record["acquisition"]
        start, end = (_moment(acquisition[f"acquisition_{e}_time"]) for e in ("start", "end"))
        utc = rng.random() < 0.05  # some sessions were written in UTC
        session = {
            "schema_version": rng.choice(("0.2.1", "1.0.1", "1.0.3", "1.1.2")),
            "experimenter_full_name": list(acquisition["experimenters"]),
            "session_start_time": (start.astimezone(UTC) if utc else _pacific(start)).isoformat(),
            "session_end_time": (end.astimezone(UTC) if utc else _pacific(end)).isoformat(),
            "session_type": acquisition["acquisition_type"],
            "rig_id": rig_id,
            "subject_id": acquisition["subject_id"],
            "data_streams": [],
            "stimulus_epochs": [],
        }
        session.update(_extras(acquisition, V2_ACQUISITION_FIELDS | set(session)))
        rig = {
            "schema_version": rng.choice(("0.3.2", "1.0.1")),
            "rig_id": rig_id,
            "modalities": [m for m in spelled if isinstance(m, dict)],
        }
        rig.update(_extras(record["instrument"], {"object_type", "instrument_id"} | set(rig)))
        return session, rig

    # -- v1 -------------------------------------------------------------------------------------------

    def v1(self, record: dict[str, Any], platform: str, legacy: str | None) -> dict[str, Any]:
        rng = self.rng
        quality = record["quality_control"]
        oldest = False
        if rng.random() < 0.65:
            schema_version = rng.choice(("1.0.0", "1.1.1", "1.2.1"))
        else:
            schema_version = rng.choice(("0.2.7", "0.2.19"))
            oldest = rng.random() < 0.5  # the 0.2.7 forms: "raw data", bare-string modality, no platform
            quality = None  # QC came with schema 1.x: no 0.x record has any
        zero = schema_version.startswith("0.")
        description = record["data_description"]
        modalities = [m["abbreviation"] for m in description["modalities"]]
        spim = platform == "SmartSPIM"
        platform_name = legacy or platform

        def spell(modality: str) -> Any:
            if legacy == "SLAP2" and modality in SLAP_MODALITIES:
                return SLAP_MODALITIES[modality]
            if zero and modality in LEGACY_MODALITIES and legacy_spelling[modality]:
                return LEGACY_MODALITIES[modality]
            return {"name": MODALITIES[modality], "abbreviation": modality}

        legacy_spelling = {m: rng.random() < 0.6 for m in LEGACY_MODALITIES}
        spelled = [spell(m) for m in modalities]
        modality: Any = spelled
        if spim and zero and (oldest or rng.random() < 0.5):
            modality = platform_name  # "SmartSPIM" / "exaSPIM": a bare string in 0.x
        level = description["data_level"]
        if oldest:
            level = f"{level} data"
        acquisition = record["acquisition"]
        start = _moment(acquisition["acquisition_start_time"])
        v1_description: dict[str, Any] = {
            "schema_version": rng.choice(("0.3.0", "0.6.0", "0.13.6") if zero else ("1.0.3", "1.0.4")),
            "creation_time": _pacific(start).strftime("%H:%M:%S") if oldest else description["creation_time"],
            "name": description["name"],
            "data_level": level,
            "project_name": description["project_name"],
            "modality": modality,
            "subject_id": description["subject_id"],
        }
        people = [p["name"] for p in description["investigators"]]
        if oldest:
            v1_description["investigators"] = []
        elif schema_version == "1.2.1" and rng.random() < 0.5:
            v1_description["investigators"] = people  # data_description 0.10 wrote plain names
        else:
            v1_description["investigators"] = [
                {"name": name, "abbreviation": None, "registry": None, "registry_identifier": None}
                for name in people
            ]
        if not oldest:
            v1_description["platform"] = (
                LEGACY_PLATFORMS[platform][1] if legacy else PLATFORM_OBJECTS[platform]
            )
        if description.get("source_data"):
            v1_description["input_data_name"] = description["source_data"][0]

        rig_id = "SLAP2_1" if legacy == "SLAP2" else acquisition["instrument_id"]
        session = rig = v1_acquisition = instrument = None
        if spim:
            end = _moment(acquisition["acquisition_end_time"])
            people = list(acquisition["experimenters"])
            v1_acquisition = {
                "schema_version": rng.choice(("0.4.3", "0.4.6", "0.5.2")),
                "experimenter_full_name": people[0] if zero and len(people) == 1 else people,
                "instrument_id": acquisition["instrument_id"],
                # SPIM acquisitions were written in the lab's local time without an offset.
                "session_start_time": _pacific(start).replace(tzinfo=None).isoformat(),
                "session_end_time": _pacific(end).replace(tzinfo=None).isoformat(),
                "session_type": None,
                "subject_id": acquisition["subject_id"],
                "tiles": [],
            }
            v1_acquisition.update(_extras(acquisition, V2_ACQUISITION_FIELDS | set(v1_acquisition)))
            instrument = {"schema_version": rng.choice(("0.5.4", "0.9.1")), "instrument_id": rig_id}
            instrument.update(_extras(record["instrument"], {"object_type"} | set(instrument)))
        else:
            session, rig = self.session_and_rig(record, spelled, rig_id)
            if legacy == "SLAP2":
                session["session_type"] = "slap2"

        created = _moment(record["_created"])
        last_modified = _moment(record["_last_modified"])
        ids = (record["other_identifiers"] or {}).get("Code Ocean")
        links: Any = {"Code Ocean": ids or []}
        if zero and ids is None:
            links = []
        elif zero and ids and rng.random() < 0.3:
            links = [{"Code Ocean": one} for one in ids]  # 0.x: a list of objects
        procedures = record["procedures"]
        if procedures is not None:
            procedures = {
                "schema_version": "0.11.2" if zero else "1.1.1",
                "subject_id": record["subject"]["subject_id"],
                "subject_procedures": [],
                "specimen_procedures": [],
            } | _extras(procedures, {"object_type", "subject_id"})
        return {
            "_id": record["_id"],
            "describedBy": f"{DESCRIBED_BY}/core/metadata.py",
            "schema_version": schema_version,
            "name": record["name"],
            "location": record["location"],
            "metadata_status": rng.choice(METADATA_STATUSES),
            "created": _envelope_text(created, rng, naive=0.9 if zero else 0.6),
            "last_modified": _envelope_text(last_modified, rng, naive=0.6 if zero else 0.05),
            "external_links": links,
            "subject": self.v1_subject(record, "0.5.5" if zero else "1.0.2"),
            "data_description": v1_description,
            "procedures": procedures,
            "session": session,
            "rig": rig,
            "acquisition": v1_acquisition,
            "instrument": instrument,
            "processing": self.v1_processing(record, zero, oldest),
            "quality_control": self.v1_quality(quality, spell, created) if quality else None,
            "notes": record["notes"],
        }

    def v1_processing(self, record: dict[str, Any], zero: bool, oldest: bool) -> dict[str, Any] | None:
        rng = self.rng
        if zero and rng.random() < 0.1:
            return None
        steps = record["processing"]["data_processes"]
        first_modality = record["data_description"]["modalities"][0]["abbreviation"]
        processes = []
        for step in steps:
            if step["process_type"] == "Compression":
                name = "Compression"
            else:
                name = rng.choice(DERIVED_PROCESSES[first_modality])
            processes.append(
                {
                    "name": name,
                    "version" if oldest else "software_version": step["code"]["version"],
                    "start_date_time": step["start_date_time"],
                    "end_date_time": step["end_date_time"],
                    "input_location": f"/data/{record['name']}",
                    "output_location": record["location"],
                    "code_url": step["code"]["url"],
                    "code_version": None,
                    "parameters": {},
                    "outputs": {},
                    "notes": None,
                }
            )
        pipeline = steps[0]["pipeline_name"] if steps else None
        url = f"https://github.com/AllenNeuralDynamics/{pipeline}" if pipeline else None
        version = "1.0" if pipeline else None
        if oldest:  # processing 0.1 / 0.2: the steps at the top level
            return {
                "describedBy": f"{DESCRIBED_BY}/processing.py",
                "schema_version": "0.2.1",
                "data_processes": processes,
                "pipeline_url": url,
                "pipeline_version": version,
            }
        return {
            "describedBy": f"{DESCRIBED_BY}/core/processing.py",
            "schema_version": "0.4.8" if zero else "1.1.3",
            "processing_pipeline": {
                "data_processes": processes,
                "processor_full_name": steps[0]["experimenters"][0] if steps else "AIND Scientific Computing",
                "pipeline_version": version,
                "pipeline_url": url,
                "note": None,
            },
            "analyses": [],
            "notes": None,
        }

    def v1_quality(self, quality: dict[str, Any], spell: Any, created: dt.datetime) -> dict[str, Any]:
        """``evaluations[]``: runs of metrics with one modality and stage, in the order of the metrics."""
        rng = self.rng
        with_status = rng.random() < 0.5  # QC schema 1.2.2 records each evaluation's latest_status
        evaluations: list[dict[str, Any]] = []
        used: set[str] = set()
        size = 0
        for metric in quality["metrics"]:
            key = (metric["modality"]["abbreviation"], metric["stage"])
            current = evaluations[-1] if evaluations else None
            if current is None or current["_key"] != key or len(current["metrics"]) >= size:
                size = rng.choice((1, 1, 2, 2, 3, 4))
                name = rng.choice(EVALUATION_NAMES)
                name = name if name not in used else f"{name} {len(evaluations)}"
                used.add(name)
                tags = metric["tags"] if isinstance(metric["tags"], list) else None
                current = {
                    "_key": key,
                    "modality": spell(key[0]),
                    "stage": key[1],
                    "name": name,
                    "description": f"Synthetic evaluation of {MODALITIES[key[0]]} ({key[1]}).",
                    "metrics": [],
                    "tags": tags,
                    "notes": None,
                    "allow_failed_metrics": False,
                }
                evaluations.append(current)
            current["metrics"].append(
                {
                    "name": metric["name"],
                    "value": metric["value"],
                    "status_history": [
                        {field: entry[field] for field in ("evaluator", "status", "timestamp")}
                        for entry in metric["status_history"]
                    ],
                    "description": metric["description"],
                    "reference": metric["reference"],
                    "evaluated_assets": None,
                }
            )
        for evaluation in evaluations:
            del evaluation["_key"]
            if with_status:
                evaluation["latest_status"] = _latest_status(evaluation["metrics"])
                evaluation["created"] = _envelope_text(created, rng, naive=0)
        return {
            "describedBy": f"{DESCRIBED_BY}/core/quality_control.py",
            "schema_version": "1.2.2" if with_status else "1.2.1",
            "evaluations": evaluations,
            "notes": None,
        }

    # -- hybrid ---------------------------------------------------------------------------------------

    def hybrid(self, record: dict[str, Any], platform: str) -> dict[str, Any]:
        """A v1 top level around the 2.x parts, as DocDB holds some partly upgraded records."""
        rng = self.rng
        hybrid = dict(record)
        created = _moment(hybrid.pop("_created"))
        last_modified = _moment(hybrid.pop("_last_modified"))
        hybrid["created"] = _envelope_text(created, rng, naive=0.5)
        hybrid["last_modified"] = _envelope_text(last_modified, rng, naive=0)
        ids = (record["other_identifiers"] or {}).get("Code Ocean")
        hybrid["external_links"] = {"Code Ocean": ids or []}
        hybrid["describedBy"] = f"{DESCRIBED_BY}/core/metadata.py"
        hybrid["metadata_status"] = rng.choice(METADATA_STATUSES)
        if rng.random() < 0.2:  # 2.3.3 with both identifier fields (real/v2_ecephys_raw_233b.json)
            hybrid["schema_version"] = "2.3.3"
        else:
            hybrid["schema_version"] = rng.choice(("1.1.1", "1.2.1"))
            del hybrid["other_identifiers"], hybrid["object_type"]
        hybrid["session"] = hybrid["rig"] = None
        if platform != "SmartSPIM" and rng.random() < 0.4:
            # v1 session, rig and subject, 2.x everything else (real/v1mix_ecephys_sorted_qc_800779.json)
            spelled = [dict(m) for m in record["data_description"]["modalities"]]
            hybrid["session"], hybrid["rig"] = self.session_and_rig(
                record, spelled, record["acquisition"]["instrument_id"]
            )
            hybrid["subject"] = self.v1_subject(record, "1.0.3")
            hybrid["acquisition"] = hybrid["instrument"] = None
        if rng.random() < 0.15:
            hybrid["processing"] = None
        return hybrid


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
    shapes: Mapping[str, float] | None = None,
    v2_last_modified: float = DEFAULT_V2_LAST_MODIFIED,
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
    shapes
        Share of each record shape, ``{"v2": ..., "v1": ..., "hybrid": ...}`` (shares >= 0, normalised to
        sum to 1; a missing shape has share 0). Default :data:`DEFAULT_SHAPES`: v2 65%, v1 25%, hybrid
        10%. The real mix in DocDB is not known to us: we have no count of DocDB records by shape, only
        25 real records chosen to show every shape (``tests/data/aind_records/real``). These numbers
        are a guess that keeps v2 (what DocDB writes today and what its upgrade writes) the majority,
        gives v1 (records not upgraded) a large share, and hybrids (partly upgraded records, the rarest
        in the examples we have) a share still large enough that a 400-record sample holds dozens.
        Each record's shape is drawn independently, except that subjects of the legacy exaSPIM and
        SLAP2 platforms (a fifth of the v1 share) have v1 records only. ``{"v2": 1}`` with
        ``v2_last_modified=0`` gives the corpus of the versions before shapes, byte for byte.
    v2_last_modified
        Fraction of the v2 records whose envelope time is ``last_modified`` instead of
        ``_last_modified`` (default 5%).

    Raises
    ------
    ValueError
        At the call (before any record) for an unknown shape, a negative share, shares that sum to 0
        or a ``v2_last_modified`` outside 0 to 1.
    """
    shaper = _Shaper(seed, shapes, v2_last_modified)  # checks the shares before the first record
    return (
        _with_course_fields(r)
        for r in _records(count, _Generator(seed, templates, max_metrics, bulky), shaper)
    )


def _with_course_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The fields the course tables select on (:mod:`biodata_cache.tables.course`), added to some records.

    Drawn from a generator of the record's own name, so the other records' values do not change:

    - multiplane-ophys records without a project become ``V1 Deep Dive`` assets with V1DD tags
      (``["Column <n>", "Volume <m>"]``; some have one tag or none);
    - derived records of the ``Brain Computer Interface`` project that have a v1 ``session`` get a BCI
      single-neuron-stim session as SWDB 2025's notebook selects it (FOV notes, targeted structure, the
      conditioning epoch's session number, a virus, a processing step started after 2025-08-03); one in
      four lacks its FOVs (the table leaves it out).
    """
    rng = random.Random(f"course:{record.get('name')}")
    description = record.get("data_description")
    if not isinstance(description, dict):
        return record
    name = str(record.get("name"))
    if description.get("project_name") is None and name.startswith("multiplane-ophys"):
        description["project_name"] = "V1 Deep Dive"
        tags = [f"Column {rng.randrange(1, 6)}", f"Volume {rng.randrange(1, 6)}"]
        description["tags"] = tags[: rng.choice((2, 2, 2, 1, 0))]
    session = record.get("session")
    processing = record.get("processing")
    if (
        description.get("project_name") == "Brain Computer Interface"
        and str(description.get("data_level")).startswith("derived")
        and isinstance(session, dict)
        and isinstance(processing, dict)
        and isinstance(processing.get("processing_pipeline"), dict)
    ):
        session["session_type"] = "BCI single neuron stim"
        fovs = [] if rng.random() < 0.25 else [{"index": 0, "notes": f"FOV {rng.randrange(1, 4)}"}]
        session["data_streams"] = [
            {"stack_parameters": {"targeted_structure": rng.choice(["MOp", "VISp"])}, "ophys_fovs": fovs}
        ]
        session["stimulus_epochs"] = [
            {"stimulus_name": "spontaneous activity"},
            {"stimulus_name": "single neuron BCI conditioning", "session_number": rng.randrange(1, 12)},
        ]
        record["procedures"] = {
            "subject_procedures": [
                {"procedures": [{"injection_materials": [{"name": "AAV-GCaMP8m"}, {"name": "AAV-ChRmine"}]}]}
            ]
        }
        steps = processing["processing_pipeline"].setdefault("data_processes", [])
        if isinstance(steps, list):
            steps.append(
                {
                    "name": "Video motion correction",
                    "start_date_time": f"2025-08-{rng.randrange(4, 28):02d}T10:00:00Z",
                    "end_date_time": None,
                }
            )
    return record


def _records(count: int, generator: _Generator, shaper: _Shaper) -> Iterator[dict[str, Any]]:
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
        legacy = shaper.legacy(platform)
        prefix = legacy or platform
        budget = _assets_per_subject(rng, count)
        session_start = birth + dt.timedelta(days=rng.randrange(40, 120))
        while budget > 0 and produced < count:
            start = (session_start + dt.timedelta(seconds=rng.randrange(0, 86400))).replace(microsecond=0)
            raw_name = f"{prefix}_{subject['subject_id']}_{_stamp(start)}"
            created = start + dt.timedelta(hours=rng.randrange(2, 30))
            record = generator.record(
                name=raw_name,
                subject=subject,
                project=project,
                modalities=modalities,
                level="raw",
                start=start,
                sources=None,
                created=created,
            )
            yield shaper.shape(record, platform, legacy)
            produced += 1
            budget -= 1
            for _ in range(min(rng.choice((0, 1, 1, 1, 2, 3, 5)), budget)):
                if produced >= count:
                    break
                processed = created + dt.timedelta(hours=rng.randrange(1, 2000), seconds=rng.randrange(60))
                derived_name = f"{raw_name}_processed_{_stamp(processed)}"
                sources = None if rng.random() < 0.02 else [raw_name]
                record = generator.record(
                    name=derived_name,
                    subject=subject,
                    project=project,
                    modalities=modalities[:1] if rng.random() < 0.5 else modalities,
                    level="derived",
                    start=start,
                    sources=sources,
                    created=processed + dt.timedelta(minutes=5),
                )
                yield shaper.shape(record, platform, legacy)
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
    """Write the bundled sample corpus (fixed count and seed) using ``templates`` for metric names, then
    the light-sheet family (:func:`light_sheet_family`)."""
    records = generate(SAMPLE_COUNT, seed=SAMPLE_SEED, templates=templates, max_metrics=SAMPLE_MAX_METRICS)
    return write_jsonl(path, itertools.chain(records, light_sheet_family()))


#: Standard SPIM QC metrics of stitched / fused assets (biodata-cache 0.42's ``BASE_METRIC_NAMES``).
SPIM_QC_METRICS = (
    "Image and tissue quality",
    "Tissue perfusion",
    "Flatfield correction",
    "Image destriping",
    "Image stitching",
)
#: Imaging channels of the light-sheet family (real SmartSPIM channel folder names).
SPIM_CHANNELS = ("Ex_488_Em_525", "Ex_561_Em_593", "Ex_639_Em_667")


def light_sheet_family() -> list[dict[str, Any]]:
    """A small family of SmartSPIM and exaSPIM records appended to the sample, for the light-sheet tables
    (``platform_smartspim``, ``platform_exaspim``, ``platform_exaspim_intermediates``,
    ``platform_smartspim_fiber_ccf``, ``platform_smartspim_qc_metrics``), which the 400 generated records
    never feed (no stitched / fused names, no SmartSPIM or exaSPIM instrument ids).

    Three SmartSPIM subjects, each with a raw acquisition and a ``_stitched_`` derived asset, and two
    exaSPIM subjects, each with a raw acquisition and a ``_fused_`` derived asset: 10 records. Shaped like
    the real records in ``tests/data/aind_records/real`` (``v1_0219_smartspim_acq.json``,
    ``v1_smartspim_stitched_labelled_raw.json``, ``v1_exaspim_raw.json``, ``v1_exaspim_alignment.json``):
    the raw acquisitions are v1 (schema 1.1.1, a v1 SPIM ``acquisition`` with the instrument id, e.g.
    ``SmartSPIM2-1`` / ``exaspim-01``), the derived assets are v2 (``source_data`` naming the raw asset,
    ``quality_control.metrics``) with the standard SPIM QC metrics and per-channel ``<channel>
    brightness`` metrics. Two of the SmartSPIM subjects carry fiber probe implants (``Fiber_<n>``, v2
    ``procedures.subject_procedures``), and their stitched assets the QC portal's ``Fiber_<n> CCF
    Location`` metrics: annotated (``{"AP", "ML", "DV"}`` voxel indices) or pending (value null).

    Drawn from a random stream of its own (seeded by a fixed string), so the generated records stay byte
    for byte what they were.
    """
    rng = random.Random("biodata-cache light-sheet family")

    def uuid4() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def status(moment: dt.datetime, value: str, evaluator: str) -> dict[str, Any]:
        return {
            "object_type": "QC status",
            "evaluator": evaluator,
            "status": value,
            "timestamp": moment.isoformat(),
        }

    def metric(name: str, value: Any, moment: dt.datetime, **extra: Any) -> dict[str, Any]:
        evaluated = value is not None
        return {
            "object_type": "QC metric",
            "name": name,
            "modality": {"name": MODALITIES["SPIM"], "abbreviation": "SPIM"},
            "stage": "Processing",
            "value": value,
            "status_history": [
                status(moment, "Pending", "Automated"),
                *(
                    [
                        status(
                            moment + dt.timedelta(days=2),
                            rng.choice(("Pass", "Pass", "Fail")),
                            rng.choice(PEOPLE[:4]),
                        )
                    ]
                    if evaluated
                    else []
                ),
            ],
            "description": extra.pop("description", None),
            "reference": extra.pop("reference", None),
            "tags": extra.pop("tags", None),
            "evaluated_assets": None,
        }

    def raw(platform: str, subject: str, start: dt.datetime, instrument: str, project: str) -> dict[str, Any]:
        name = f"{platform}_{subject}_{_stamp(start)}"
        local = _pacific(start).replace(tzinfo=None)
        created = start + dt.timedelta(hours=rng.randrange(2, 30))
        return {
            "_id": uuid4(),
            "name": name,
            "location": f"s3://aind-open-data/{name}",
            "schema_version": "1.1.1",
            "describedBy": f"{DESCRIBED_BY}/core/metadata.py",
            "created": created.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "last_modified": (created + dt.timedelta(hours=rng.randrange(1, 200))).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            ),
            "external_links": {"Code Ocean": []},
            "metadata_status": "Valid",
            "data_description": {
                "schema_version": "1.0.4",
                "name": name,
                "creation_time": local.isoformat(),
                "data_level": "raw",
                "project_name": project,
                "modality": [{"name": MODALITIES["SPIM"], "abbreviation": "SPIM"}],
                "platform": PLATFORM_OBJECTS["SmartSPIM"]
                if platform == "SmartSPIM"
                else LEGACY_PLATFORMS["SmartSPIM"][1],
                "subject_id": subject,
                "investigators": [
                    {
                        "name": rng.choice(PEOPLE[:4]),
                        "abbreviation": None,
                        "registry": None,
                        "registry_identifier": None,
                    }
                ],
            },
            "subject": {
                "schema_version": "1.0.0",
                "subject_id": subject,
                "sex": rng.choice(["Male", "Female"]),
                "genotype": rng.choice(GENOTYPES),
                "date_of_birth": (start - dt.timedelta(days=rng.randrange(60, 120))).date().isoformat(),
            },
            "acquisition": {
                "schema_version": "1.0.1",
                "experimenter_full_name": [rng.choice(PEOPLE[:4])],
                "specimen_id": subject,
                "subject_id": subject,
                "instrument_id": instrument,
                # SPIM acquisitions were written in the lab's local time without an offset.
                "session_start_time": local.isoformat(),
                "session_end_time": (local + dt.timedelta(hours=rng.randrange(4, 20))).isoformat(),
                "session_type": None,
                "tiles": [],
            },
            "instrument": {"schema_version": "1.0.0", "instrument_id": instrument},
            "procedures": None,
            "processing": None,
            "quality_control": None,
            "rig": None,
            "session": None,
            "notes": LABEL,
        }

    def derived(
        source: dict[str, Any],
        start: dt.datetime,
        word: str,
        instrument: str,
        metrics: list[dict],
        procedures: Any,
    ) -> dict[str, Any]:
        processed = start + dt.timedelta(days=rng.randrange(3, 30), seconds=rng.randrange(86400))
        processed = processed.replace(microsecond=0).astimezone(UTC)
        name = f"{source['name']}_{word}_{_stamp(processed)}"
        subject = source["data_description"]["subject_id"]
        return {
            "_id": uuid4(),
            "object_type": "Metadata",
            "schema_version": "2.2.2",
            "name": name,
            "location": f"s3://aind-open-data/{name}",
            "other_identifiers": {"Code Ocean": [uuid4()]},
            "subject": {
                "object_type": "Subject",
                "subject_id": subject,
                "subject_details": {
                    "object_type": "Mouse subject",
                    "genotype": source["subject"]["genotype"],
                    "date_of_birth": source["subject"]["date_of_birth"],
                    "sex": source["subject"]["sex"],
                },
            },
            "data_description": {
                "object_type": "Data description",
                "subject_id": subject,
                "creation_time": processed.isoformat(),
                "name": name,
                "data_level": "derived",
                "project_name": source["data_description"]["project_name"],
                "modalities": [{"name": MODALITIES["SPIM"], "abbreviation": "SPIM"}],
                "investigators": [{"object_type": "Person", "name": rng.choice(PEOPLE[:4])}],
                "tags": None,
                "source_data": [source["name"]],
            },
            "procedures": procedures,
            "instrument": {"object_type": "Instrument", "instrument_id": instrument},
            "processing": {
                "object_type": "Processing",
                "data_processes": [
                    {
                        "object_type": "Data process",
                        "process_type": "Image tile fusion" if word == "fused" else "Image tile alignment",
                        "name": "Pipeline",
                        "stage": "Processing",
                        "experimenters": ["Automated"],
                        "start_date_time": (processed - dt.timedelta(hours=6)).isoformat(),
                        "end_date_time": processed.isoformat(),
                        "code": {"url": "https://github.com/AllenNeuralDynamics/example", "version": "1.0"},
                    }
                ],
                "pipelines": [],
            },
            "acquisition": {
                "object_type": "Acquisition",
                "subject_id": subject,
                "instrument_id": instrument,
                "acquisition_start_time": start.isoformat(),
                "acquisition_end_time": (start + dt.timedelta(hours=8)).isoformat(),
                "acquisition_type": None,
                "experimenters": source["acquisition"]["experimenter_full_name"],
                "subject_details": {"object_type": "Acquisition subject details"},
            },
            "quality_control": {
                "object_type": "Quality control",
                "metrics": metrics,
                "status": {"SPIM": "Pending"},
            },
            "notes": LABEL,
            "_created": (processed + dt.timedelta(minutes=5)).isoformat(),
            "_last_modified": (processed + dt.timedelta(hours=rng.randrange(1, 100))).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )[:-3]
            + "Z",
        }

    def spim_metrics(moment: dt.datetime, channels: tuple[str, ...]) -> list[dict]:
        found = [
            metric(
                name, rng.choice((True, True, False)), moment, description=f"{name} of the stitched volume."
            )
            for name in SPIM_QC_METRICS
        ]
        found += [
            metric(
                f"{channel} brightness",
                {"value": round(rng.uniform(100, 3000), 1), "type": "mean intensity"},
                moment,
                tags={"channel": channel},
            )
            for channel in channels
        ]
        return found

    def implants(fibers: int) -> dict[str, Any]:
        return {
            "object_type": "Procedures",
            "subject_procedures": [
                {
                    "object_type": "Surgery",
                    "procedures": [
                        {
                            "object_type": "Probe implant",
                            "implanted_device": {"object_type": "Fiber probe", "name": f"Fiber_{i}"},
                            "device_config": {
                                "object_type": "Probe config",
                                "primary_targeted_structure": {
                                    "atlas": "CCFv3",
                                    "acronym": rng.choice(FIBER_TARGETS[:5]),
                                },
                            },
                        }
                        for i in range(fibers)
                    ],
                }
            ],
        }

    records = []
    moment = dt.datetime(2025, 3, 3, 17, 0, tzinfo=UTC)
    for index, fibers in enumerate((2, 1, 0)):
        moment += dt.timedelta(days=rng.randrange(2, 20), seconds=rng.randrange(86400))
        subject = str(790000 + rng.randrange(1000))
        instrument = rng.choice(("SmartSPIM2-1", "SmartSPIM3-2", "SmartSPIM1-1"))
        source = raw("SmartSPIM", subject, moment, instrument, "Thalamus in the middle")
        metrics = spim_metrics(moment + dt.timedelta(days=10), SPIM_CHANNELS[: 1 + index])
        for i in range(fibers):
            annotated = i == 0
            value = (
                {"AP": rng.randrange(200, 500), "ML": rng.randrange(100, 400), "DV": rng.randrange(50, 300)}
                if annotated
                else None
            )
            metrics.append(
                metric(
                    f"Fiber_{i} CCF Location",
                    value,
                    moment + dt.timedelta(days=12),
                    reference=f"{NEUROGLANCER_LINK}{source['name']}",
                    description=f"Fiber_{i} tip location in the CCF-aligned volume.",
                )
            )
        stitched = derived(
            source,
            moment,
            "stitched",
            instrument,
            metrics,
            implants(fibers) if fibers else {"object_type": "Procedures"},
        )
        records += [source, stitched]
    for _ in range(2):
        moment += dt.timedelta(days=rng.randrange(2, 20), seconds=rng.randrange(86400))
        subject = str(750000 + rng.randrange(1000))
        source = raw("exaSPIM", subject, moment, "exaspim-01", "MSMA Platform")
        fused = derived(
            source,
            moment,
            "fused",
            "exaSPIM1-01",
            spim_metrics(moment + dt.timedelta(days=10), SPIM_CHANNELS[:1]),
            {"object_type": "Procedures"},
        )
        records += [source, fused]
    return records


NEUROGLANCER_LINK = "https://neuroglancer-demo.appspot.com/#!s3://aind-open-data/"
