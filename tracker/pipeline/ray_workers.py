"""What runs on the Ray cluster for score_ray: the queue of chunks to score, and the scorer actor (one model per
actor) that takes them off it. Workers need the tracker and the model files, never the database.

Nothing here imports ray at module level: the classes are handed to Ray by the driver, which imports it.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.pipeline.score import make_scorer
from tracker.scoring.base import ModelSpec

CHUNK_COLUMNS = ("chunk", "index", "text")
RESULT_COLUMNS = ("chunk", "index", "version", "level", "hostility", "p0", "p1", "p2", "p3", "p4", "windows", "targets")


def _schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in ("chunk", "index", "level", "windows"):
            return pa.int64()
        return pa.float64() if column == "hostility" or column[1:].isdigit() else pa.string()

    return pa.schema([(c, kind(c)) for c in columns])


def chunk_table(chunk: int, texts: Sequence[str]) -> Any:
    """A chunk's texts to score, numbered: what an actor takes off the queue."""
    import pyarrow as pa

    n = len(texts)
    data = {"chunk": [chunk] * n, "index": list(range(n)), "text": list(texts)}
    return pa.Table.from_pydict(data, schema=_schema(CHUNK_COLUMNS))


class ChunkFeed:
    """A bounded queue between the driver and the scorer actors, run as an async Ray actor: put waits for room, get
    waits for a chunk; once closed, put refuses and get hands out what is left, then None."""

    def __init__(self, size: int) -> None:
        self._items: deque[Any] = deque()
        self._size = size
        self._closed = False
        self._changed = asyncio.Condition()

    async def put(self, item: Any) -> bool:
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or len(self._items) < self._size)
            if self._closed:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    async def get(self) -> Any:
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or bool(self._items))
            item = self._items.popleft() if self._items else None
            self._changed.notify_all()
            return item

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()


class ScoringActor:
    """One model in one Ray actor (map_batches' callable class over tickets): loaded once, then for each ticket
    takes the next chunk off the queue and scores it with the scorer local scoring uses, with the same settings
    (device, precision, windows) and `threads` torch threads. Taking work only when free balances the load (a
    chunk of long texts takes longer), and a ticket retried after a crash takes a fresh chunk."""

    def __init__(self, settings: Settings, spec: ModelSpec, threads: int, feed: Any) -> None:
        import ray

        self.feed = feed
        scoring = settings.scoring.model_copy(update={"threads": threads})
        self.scorer = make_scorer(settings.model_copy(update={"scoring": scoring}), spec)
        self.version = str(self.scorer.version)
        # Load now. With precision auto on a CPU the first load on a machine times fp32 against bf16 and caches
        # the verdict (as local scoring does); until it is cached, one load at a time per machine keeps that probe
        # from timing its neighbours' work too.
        on_cpu = settings.scoring.device == "cpu" or not ray.get_gpu_ids()
        probe = on_cpu and settings.scoring.precision == "auto" and not probed(settings.models_dir, self.version)
        with one_at_a_time(settings.models_dir, probe):
            self.scorer.windows(["warm up"])

    def __call__(self, tickets: Any) -> Any:
        import pyarrow as pa
        import ray

        work = ray.get(self.feed.get.remote())
        if work is None:  # none left: an empty result
            work = chunk_table(-1, [])
        chunks, indices = work.column("chunk").to_pylist(), work.column("index").to_pylist()
        texts = [str(t) for t in work.column("text").to_pylist()]
        results = self.scorer.score_batch(texts) if texts else []
        data: dict[str, list[Any]] = {
            "chunk": chunks,
            "index": indices,
            "version": [self.version] * len(texts),
            "level": [r.level for r in results],
            "hostility": [r.hostility for r in results],
            **{f"p{i}": [r.probabilities[i] for r in results] for i in range(5)},
            "windows": [r.windows for r in results],
            "targets": [json.dumps(r.targets) for r in results],
        }
        return pa.Table.from_pydict(data, schema=_schema(RESULT_COLUMNS))


def probed(models_dir: Path, version: str) -> bool:
    """Whether the precision cache beside the models holds a verdict for this model version (on some CPU)."""
    try:
        cache = json.loads((models_dir / "precision.json").read_text(encoding="utf-8"))
        return any(isinstance(v, dict) and v.get("model") == version for v in cache.values())
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def one_at_a_time(folder: Path, lock: bool) -> Iterator[None]:
    """Hold a file lock in `folder` (one holder per machine) when `lock`."""
    if not lock:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".ray-load.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
