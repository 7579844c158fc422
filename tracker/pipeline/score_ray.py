"""Stage `score` on a Ray cluster (`tracker score --engine ray`, `scoring.engine: ray`): the scores local scoring
gives, on any number of machines.

The driver (this process) does all the database work, as local scoring does: it reads unscored documents in
chunks, reuses the stored score of a text already scored by the same model version, and writes each chunk's
scores in one transaction once all of its texts are back. A killed run therefore loses at most the chunks in
flight, and a rerun scores each document exactly once (the store keeps one score per document and version).

Only texts travel: a feeder thread puts each chunk's distinct texts on a bounded queue (a small actor). Ray Data
runs `map_batches` over tickets on a pool of scorer actors, each holding one model, with the CPUs and GPUs per
actor from config: for each ticket an actor takes the next chunk off the queue and scores it exactly as local
scoring would (the same texts, in the same order, so the same forward batches), and the results stream back to the
driver. A pass covers at most `chunks_per_pass` chunks (one actor pool, so one model load per actor); passes repeat
until nothing is left, so a chunk lost with a worker is scored by the next pass. The workers (ray_workers) need the
tracker and the model files, never the database.

Ray is optional (`pip install 'tracker[ray]'`) and imported only inside these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from tracker.config import Secrets, Settings
from tracker.config.sections import RaySettings
from tracker.errors import ConfigError, ScoringError
from tracker.pipeline.common import Clock
from tracker.pipeline.ray_passes import Job
from tracker.pipeline.score import (
    Detect,
    ScoreSummary,
    detect_languages,
    make_scorers,
    score,
    scoring_run,
)
from tracker.progress import ProgressFactory, no_progress
from tracker.scoring.transformer import TransformerScorer
from tracker.storage import Store

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `pip install 'tracker[ray]'` (or `make ray` in a checkout)"


def import_ray() -> Any:
    """The ray module, or a ConfigError that says how to install it."""
    try:
        import ray
        import ray.data  # the extra is ray[data]
    except ImportError:
        raise ConfigError(f"the ray scoring engine needs Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


def score_with_engine(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    engine: str | None = None,
    address: str | None = None,
    rescore: bool = False,
    progress: ProgressFactory = no_progress,
    clock: Clock | None = None,
) -> ScoreSummary:
    """`tracker score`: local scoring, or scoring on a Ray cluster (`engine`, else scoring.engine)."""
    engine = engine or settings.scoring.engine
    if engine == "local":
        if address is not None:
            raise ConfigError("--address is for the ray engine; add --engine ray (or set scoring.engine: ray)")
        return score(settings, store, now=now, rescore=rescore, progress=progress, clock=clock)
    if engine != "ray":
        raise ConfigError(f"unknown scoring engine {engine!r}; use local or ray")
    return score_on_ray(settings, store, now=now, address=address, rescore=rescore, progress=progress, clock=clock)


def ray_settings(settings: Settings, address: str | None = None) -> RaySettings:
    """scoring.ray with --address applied, checked against the scoring keys it must agree with."""
    sc = settings.scoring
    rs = sc.ray
    if address is not None:
        try:
            rs = RaySettings.model_validate({**rs.model_dump(), "address": address})
        except ValueError as exc:
            raise ConfigError(f"--address {address!r}: {str(exc).splitlines()[-1].strip()}") from None
    if rs.gpus_per_actor > 0 and sc.device == "cpu":
        raise ConfigError(
            f"scoring.ray.gpus_per_actor is {rs.gpus_per_actor:g} but scoring.device is cpu; "
            "set scoring.device to auto or cuda, or gpus_per_actor to 0"
        )
    if rs.gpus_per_actor == 0 and sc.device == "cuda":
        raise ConfigError(
            "scoring.device is cuda but scoring.ray.gpus_per_actor is 0, so Ray gives the actors no GPU; "
            "set gpus_per_actor (e.g. 1) or scoring.device to auto or cpu"
        )
    return rs


def score_on_ray(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    address: str | None = None,
    rescore: bool = False,
    progress: ProgressFactory = no_progress,
    scorers: Mapping[str, TransformerScorer] | None = None,
    clock: Clock | None = None,
) -> ScoreSummary:
    """Detect missing languages, group stories, then score unscored documents on a Ray cluster."""
    import_ray()  # before any work: say how to install it
    rs = ray_settings(settings, address)
    chunk_size = settings.scoring.chunk_size
    scorers = scorers if scorers is not None else make_scorers(settings)
    # The workers get the settings without the secrets (they never open the store).
    workers = settings.model_copy(update={"secrets": Secrets()})
    return scoring_run(
        settings,
        store,
        scorers,
        now=now,
        progress=progress,
        clock=clock,
        score_with=lambda detect: score_store_on_ray(
            store,
            scorers,
            worker_settings=workers,
            ray_settings=rs,
            now=now,
            rescore=rescore,
            chunk_size=chunk_size,
            detect=detect,
            progress=progress,
        ),
    )


@contextmanager
def connected(ray: Any, address: str | None) -> Iterator[None]:
    """Connected to the cluster at `address` (None: $RAY_ADDRESS, else a local instance); shut down after if this
    call connected (a caller already connected keeps its connection)."""
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "$RAY_ADDRESS or a new local instance"
        raise ScoringError(
            f"cannot connect to the Ray cluster at {where}: {str(exc).splitlines()[0]}; start one with "
            "`ray start --head`, or fix scoring.ray.address / --address"
        ) from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # progress comes from the tracker's own bar
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
        yield
    finally:
        ray.shutdown()


def score_store_on_ray(
    store: Store,
    scorers: Mapping[str, TransformerScorer],
    *,
    worker_settings: Settings,
    ray_settings: RaySettings,
    now: datetime,
    rescore: bool = False,
    chunk_size: int = 1024,
    detect: Detect | None = None,
    progress: ProgressFactory = no_progress,
) -> ScoreSummary:
    """score_store on a Ray cluster, connected only when there is something to score; languages that share a
    model share one actor pool."""
    ray = import_ray()
    summary = ScoreSummary()
    if detect is not None and store.count_missing_language():
        summary.detected = detect_languages(store, detect)
    by_model: dict[TransformerScorer, list[str]] = {}
    for language, scorer in scorers.items():
        by_model.setdefault(scorer, []).append(language)
    with ExitStack() as cluster:
        for scorer, languages in by_model.items():
            version = str(scorer.version)
            todo = [lang for lang in languages if store.count_to_score(lang, version, rescore)]
            if not todo:
                continue  # nothing to do: no cluster, no model
            if not ray.is_initialized():
                cluster.enter_context(connected(ray, ray_settings.address))
            for lang in todo:
                store.register_model(version, scorer.version.name, scorer.version.digest, {"language": lang}, now)
            job = Job(
                ray,
                store,
                scorer,
                todo,
                rescore=rescore,
                chunk_size=chunk_size,
                worker_settings=worker_settings,
                ray_settings=ray_settings,
                now=now,
            )
            summary.models[version] = summary.models.get(version, 0) + job.run(summary, progress)
    store.mark_unscored(list(scorers), now)
    summary.unscored = store.unscored_counts()
    return summary
