"""The driver's side of scoring on Ray (score_ray): one model's documents, pass by pass. A feeder thread reads
chunks of unscored documents and queues their texts; the driver thread files the results as they stream back and
writes each chunk, in one transaction, once nothing in it is left to score.

A chunk reuses what local scoring would reuse at that point: stored scores of its texts (same model version) and
the results of texts an earlier chunk, still in flight here, is waiting for. So each chunk sends the model exactly
the texts local scoring would send, in the same order: the same forward batches, the same numbers (bf16 too, on
the same hardware), the same counts.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from tracker.config import Settings
from tracker.config.sections import RaySettings
from tracker.errors import ScoringError
from tracker.models import Score
from tracker.pipeline.ray_workers import ChunkFeed, ScoringActor, chunk_table
from tracker.pipeline.score import ScoreSummary
from tracker.progress import Progress, ProgressFactory, no_progress
from tracker.scoring.base import Probabilities, TextScore
from tracker.scoring.transformer import TransformerScorer
from tracker.storage import Store

log = logging.getLogger(__name__)

FEED_CHUNKS = 256  # at most this many chunks wait on the queue (2 per actor below that)


@dataclass
class Chunk:
    """One chunk: its documents, the stored scores it reuses, the texts it sends and those it awaits."""

    rows: list[tuple[str, str, str]]  # (id, text, text hash)
    known: dict[str, Score]  # stored scores, by hash
    sent: list[str]  # hashes of the texts it sends to be scored, in local scoring's order
    awaited: list[str]  # hashes an earlier chunk in flight sent


class Ledger:
    """The chunks in flight and the results they wait for, shared by the two threads under one lock. A result is
    kept while a chunk that sent or awaits its text is unwritten."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chunks: dict[int, Chunk] = {}
        self.results: dict[str, TextScore] = {}
        self.users: Counter[str] = Counter()

    def claim_in_flight(self, hashes: list[str]) -> list[str]:
        """Those of `hashes` an unwritten chunk sent; claimed, so their results outlive that chunk's write."""
        with self.lock:
            found = [h for h in hashes if h in self.users]
            self.users.update(found)
        return found

    def add(self, n: int, chunk: Chunk) -> None:
        with self.lock:
            self.chunks[n] = chunk
            self.users.update(chunk.sent)

    def file(self, n: int, index: int, result: TextScore) -> bool:
        """A result for the `index`th text chunk `n` sent; False for one already filed (a retried ticket)."""
        with self.lock:
            chunk = self.chunks.get(n)
            if chunk is None or chunk.sent[index] in self.results:
                return False
            self.results[chunk.sent[index]] = result
            return True

    def take_complete(self) -> list[tuple[Chunk, dict[str, TextScore]]]:
        """The chunks whose texts are all back, with their results, out of the ledger (their claims stay)."""
        with self.lock:
            done = [n for n, c in self.chunks.items() if all(h in self.results for h in (*c.sent, *c.awaited))]
            return [(c, {h: self.results[h] for h in (*c.sent, *c.awaited)}) for c in map(self.chunks.pop, done)]

    def release(self, chunk: Chunk) -> None:
        """After the chunk is written: drop its claims, and the results no one claims any more."""
        with self.lock:
            for h in (*chunk.sent, *chunk.awaited):
                self.users[h] -= 1
                if self.users[h] <= 0:
                    del self.users[h]
                    self.results.pop(h, None)


class Job:
    """One model's documents in its languages, scored pass by pass; each pass has one actor pool."""

    def __init__(
        self,
        ray: Any,
        store: Store,
        scorer: TransformerScorer,
        languages: list[str],
        *,
        rescore: bool,
        chunk_size: int,
        worker_settings: Settings,
        ray_settings: RaySettings,
        now: datetime,
    ) -> None:
        self.ray, self.store, self.version, self.languages = ray, store, str(scorer.version), languages
        self.rescore, self.chunk_size, self.rs, self.now = rescore, chunk_size, ray_settings, now
        threads = ray_settings.threads_per_actor or max(1, int(ray_settings.cpus_per_actor))
        self.actor_args = (worker_settings, scorer.spec, threads)
        self.writing = threading.Lock()  # one writer at a time; it also guards summary, bar and written
        self.summary, self.written = ScoreSummary(), 0
        self.bar: Progress = no_progress("", None, "")

    def left(self) -> dict[str, int]:
        """Documents still to score, per language (a chunk never spans two languages)."""
        return {lang: self.store.count_to_score(lang, self.version, self.rescore) for lang in self.languages}

    def run(self, summary: ScoreSummary, progress: ProgressFactory) -> int:
        """Pass after pass until nothing is left; returns the documents written."""
        left = self.left()
        self.summary = summary
        self.bar = progress(f"score [{', '.join(self.languages)}] {self.version} on ray", sum(left.values()), "docs")
        try:
            while any(left.values()):
                before = self.written
                self.run_pass(left)
                if self.written == before:
                    raise ScoringError(
                        f"a pass on the Ray cluster wrote no scores with {sum(left.values()):,} documents left; "
                        "see the Ray logs (/tmp/ray/session_latest/logs on each node)"
                    )
                left = self.left()
        finally:
            self.bar.close()
        return self.written

    def run_pass(self, left: dict[str, int]) -> None:
        """Score up to chunks_per_pass chunks with one actor pool (none when every text is known)."""
        ray, rs = self.ray, self.rs
        chunks = min(sum(math.ceil(k / self.chunk_size) for k in left.values()), rs.chunks_per_pass)
        feed = ray.remote(num_cpus=0)(ChunkFeed).remote(min(max(4, 2 * rs.actors), FEED_CHUNKS))
        ledger = Ledger()
        errors: list[BaseException] = []
        queued = threading.Event()  # set at the first chunk queued, or when the feeder stops
        feeder = threading.Thread(
            target=self._feed, args=(feed, chunks, ledger, errors, queued), name="ray-feeder", daemon=True
        )
        feeder.start()
        queued.wait()
        try:
            if ledger.chunks:
                for batch in self._dataset(feed, chunks).iter_batches(batch_size=None, batch_format="pyarrow"):
                    self._write(ledger, self._file(batch, ledger))
        except ray.exceptions.RayError as exc:  # e.g. an actor that cannot load the model on its node
            raise ScoringError(f"scoring on the Ray cluster failed: {last_line(exc)}") from exc
        finally:
            with suppress(Exception):
                ray.get(feed.close.remote(), timeout=30)
            feeder.join(timeout=60)
        if errors:
            raise errors[0]
        self._write(ledger)  # chunks that awaited texts already back
        if ledger.chunks:
            log.warning(
                "%d chunks came back incomplete (a worker died?); the next pass scores them", len(ledger.chunks)
            )

    def _dataset(self, feed: Any, tickets: int) -> Any:
        ray, rs = self.ray, self.rs
        ds = ray.data.from_items([{"ticket": i} for i in range(tickets)], override_num_blocks=tickets)
        return ds.map_batches(
            ScoringActor,
            fn_constructor_args=(*self.actor_args, feed),
            batch_size=1,  # a ticket: the actor takes the next chunk off the queue
            batch_format="pyarrow",
            # one ticket at a time per actor: a ticket queued behind a long chunk would hold back a chunk another
            # actor could take now
            compute=ray.data.ActorPoolStrategy(size=min(rs.actors, tickets), max_tasks_in_flight_per_actor=1),
            num_cpus=rs.cpus_per_actor,
            num_gpus=rs.gpus_per_actor or None,
        )

    def _feed(
        self, feed: Any, chunks: int, ledger: Ledger, errors: list[BaseException], queued: threading.Event
    ) -> None:
        """Read up to `chunks` chunks and queue the texts each must send (a thread: put waits for room)."""
        ray = self.ray
        try:
            n = 0
            for lang in self.languages:
                for rows in self.store.iter_to_score(lang, self.version, self.rescore, self.chunk_size):
                    if n == chunks:
                        return
                    n += 1
                    texts = {h: text for _, text, h in rows}  # distinct, in order of first appearance
                    awaited = ledger.claim_in_flight(list(texts))
                    known = self.store.scores_for_hashes(sorted(set(texts) - set(awaited)), self.version)
                    sent = [h for h in texts if h not in known and h not in awaited]
                    chunk = Chunk(rows, known, sent, awaited)
                    ledger.add(n, chunk)
                    if sent:
                        if not ray.get(feed.put.remote(chunk_table(n, [texts[h] for h in sent]))):
                            return  # closed: the driver stopped
                        queued.set()
                    elif not awaited:  # every text stored already: write it now
                        self._write(ledger)
        except BaseException as exc:  # handed to the driver thread, which raises it
            errors.append(exc)
        finally:
            queued.set()
            with suppress(Exception):
                ray.get(feed.close.remote(), timeout=30)  # what is left of the pass gets nothing more

    def _file(self, batch: Any, ledger: Ledger) -> int:
        """File a batch of results; returns how many texts were new."""
        data = batch.to_pydict()
        versions = set(data["version"]) - {self.version}
        if versions:
            raise ScoringError(
                f"a Ray worker scored with model version {sorted(versions)[0]}, the driver has {self.version}; "
                "install the same tracker and model files on every node"
            )
        new = 0
        for i, (n, index) in enumerate(zip(data["chunk"], data["index"], strict=True)):
            probs = cast(Probabilities, tuple(float(data[f"p{k}"][i]) for k in range(5)))
            targets = tuple((str(c), float(p)) for c, p in json.loads(data["targets"][i]))
            level, windows = int(data["level"][i]), int(data["windows"][i])
            new += ledger.file(n, index, TextScore(level, float(data["hostility"][i]), probs, windows, targets))
        return new

    def _write(self, ledger: Ledger, texts_back: int = 0) -> None:
        """Write each complete chunk's scores in one transaction, as local scoring does (either thread, one at a
        time), then release its results."""
        with self.writing:
            self.bar.update(texts_back)  # progress as texts come back; the chunk's other documents when written
            for chunk, results in ledger.take_complete():
                rows = []
                for doc_id, _, h in chunk.rows:
                    k = chunk.known.get(h) or results[h]
                    rows.append(Score(doc_id, self.version, k.level, k.hostility, k.probabilities, self.now, k.targets))
                self.store.save_scores(rows)
                ledger.release(chunk)
                fresh = [results[h] for h in chunk.sent]
                reused = sum(1 for _, _, h in chunk.rows if h in chunk.known or h in chunk.awaited)
                self.summary.reused += reused
                self.summary.scored += len(rows) - reused
                self.summary.texts += len(fresh)
                self.summary.windowed += sum(1 for r in fresh if r.windows > 1)
                self.bar.update(len(rows) - len(fresh))
                self.written += len(rows)


def last_line(exc: BaseException) -> str:
    """The last line of a Ray error: the worker's own exception, under Ray's traceback."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return lines[-1][:500] if lines else type(exc).__name__
