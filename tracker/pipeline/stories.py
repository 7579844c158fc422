"""Stage `stories`: put every document not yet grouped into a story: with the earlier copies it repeats
(forwards, reposts, lightly edited copies, within `window_days`), or a story of its own.

Runs at the end of every ingest and before every scoring pass, in publication order, a slice at a time; each
slice is written in one transaction, so a killed run loses nothing and the rerun groups the rest. A document
published before the first copy of its story becomes the story's first copy (backfills of archives), and the
story aggregates move with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tracker.config import Settings
from tracker.progress import ProgressFactory, no_progress
from tracker.storage import Store, StoryDoc
from tracker.stories import Parsed, StoryRule, compare_parsed
from tracker.story_index import StoryIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StorySettings:
    window_days: float = 3.0
    rule: StoryRule = field(default_factory=StoryRule)
    lsh_threshold: float = 0.25
    slice_size: int = 2000
    max_checks: int = 16  # candidates verified per document, the closest in time first (templated streams)


def story_settings(settings: Settings) -> StorySettings:
    st = settings.stories
    return StorySettings(st.window_days, StoryRule(st.containment, st.overlap, st.min_facts), st.lsh_threshold)


def joins_story(earlier: str, later: str, settings: StorySettings = StorySettings()) -> bool:
    """Whether `later` joins `earlier`'s story the way grouping decides: an LSH candidate, then the rule (what
    the story pair set measures)."""
    index = StoryIndex(settings.lsh_threshold)
    a, b = Parsed.of(earlier), Parsed.of(later)
    index.add("earlier", a)
    return "earlier" in index.candidates(b) and compare_parsed(a, b, settings.rule).same_story


@dataclass
class StorySummary:
    grouped: int = 0  # documents put into a story
    copies: int = 0  # of them, copies of an earlier story


def group_stories(
    store: Store, settings: StorySettings = StorySettings(), *, progress: ProgressFactory = no_progress
) -> StorySummary:
    """Group every ungrouped document; returns how many were grouped and how many were copies."""
    summary = StorySummary()
    total = store.count_ungrouped()
    if not total:
        return summary
    grouper = _Grouper(store, settings)
    bar = progress("stories", total, "docs")
    try:
        while batch := store.ungrouped(settings.slice_size):
            grouper.slice(batch, summary)
            bar.update(len(batch))
    finally:
        bar.close()
    log.info("stories: %d documents grouped, %d of them copies", summary.grouped, summary.copies)
    return summary


class _Grouper:
    """The documents around the slices being grouped (slices come in time order): loaded from the store once,
    kept while within the window, forgotten after it, so the cost stays linear in the documents grouped."""

    def __init__(self, store: Store, settings: StorySettings) -> None:
        self.store, self.settings = store, settings
        self.window = timedelta(days=settings.window_days)
        self.index = StoryIndex(settings.lsh_threshold)
        self.parsed: dict[str, Parsed] = {}
        self.bands: dict[str, list[tuple[int, bytes]]] = {}  # each text's LSH keys, kept to rebuild the index
        self.known: dict[str, StoryDoc] = {}
        self.exact: dict[str, str] = {}  # the same words: a copy, nothing to verify
        self.first_of: dict[str, StoryDoc] = {}  # story -> its first seen copy
        self.loaded_until: datetime | None = None

    def _load(self, lo: datetime, hi: datetime) -> None:
        """Documents grouped earlier in [lo, hi] not yet in memory, with their stories' first copies."""
        if self.loaded_until is not None and self.loaded_until > lo:
            lo = self.loaded_until
        if self.loaded_until is None or hi > self.loaded_until:
            fresh = [d for d in self.store.grouped_between(lo, hi) if d.id not in self.known]
            for d in fresh:
                self._remember(d, d.story_id or d.id)
            stories = sorted({d.story_id for d in fresh if d.story_id and d.story_id not in self.first_of})
            for d in self.store.story_firsts(stories):
                self.first_of[d.story_id or d.id] = d  # also when it is older than the window
            self.loaded_until = hi

    def _forget(self, before: datetime) -> None:
        old = [k for k, d in self.known.items() if d.published_at < before]
        if len(old) < 2_000:
            return
        for k in old:
            del self.known[k], self.parsed[k], self.bands[k]
        self.exact = {w: k for w, k in self.exact.items() if k in self.known}
        self.index = StoryIndex(self.settings.lsh_threshold)
        for k in sorted(self.known, key=lambda k: (self.known[k].published_at, k)):
            self.index.add(k, self.parsed[k], self.bands[k])

    def slice(self, batch: list[StoryDoc], summary: StorySummary) -> None:
        self._forget(batch[0].published_at - self.window)
        self._load(batch[0].published_at - self.window, batch[-1].published_at + self.window)
        stories: dict[str, str] = {}
        first_on: list[str] = []
        first_off: list[str] = []
        for d in batch:
            p = Parsed.of(d.text)
            bands = self.index.bands_of(p)
            match = self._match(d, p, bands)
            story = d.id
            if match is not None:
                story = match.story_id or match.id
                summary.copies += 1
                first = self.first_of.get(story)
                if first is not None and (first.published_at, first.id) <= (d.published_at, d.id):
                    first_off.append(d.id)  # a later copy: saved as its own first, now it is not
                else:
                    if first is not None:
                        _flip(first.id, first_on, first_off)
                    self.first_of[story] = d
            else:
                self.first_of[story] = d
            stories[d.id] = story
            self._remember(StoryDoc(d.id, d.text, d.published_at, story, self.first_of[story] is d), story, p, bands)
        summary.grouped += len(batch)
        self.store.assign_stories(stories, first_on, first_off)

    def _match(self, d: StoryDoc, p: Parsed, bands: list[tuple[int, bytes]]) -> StoryDoc | None:
        """The earlier document `d` copies, if any: one with the same words, else the first LSH candidate
        within the window that the rule accepts, the closest in time first (at most `max_checks` verified, so
        that a stream of one template, where every text is a candidate of every other, stays linear)."""
        known, window = self.known, self.window
        same = self.exact.get(" ".join(p.words))
        if same is not None and same in known and abs(known[same].published_at - d.published_at) <= window:
            return known[same]
        near = sorted(
            (abs(known[k].published_at - d.published_at), k)
            for k in self.index.candidates(p, bands)
            if k in known and abs(known[k].published_at - d.published_at) <= window
        )
        for _, k in near[: self.settings.max_checks]:
            if compare_parsed(p, self.parsed[k], self.settings.rule).same_story:
                return known[k]
        return None

    def _remember(
        self, d: StoryDoc, story: str, p: Parsed | None = None, bands: list[tuple[int, bytes]] | None = None
    ) -> None:
        self.parsed[d.id] = p or Parsed.of(d.text)
        self.bands[d.id] = bands or self.index.bands_of(self.parsed[d.id])
        self.known[d.id] = StoryDoc(d.id, d.text, d.published_at, story, d.story_first)
        self.exact.setdefault(" ".join(self.parsed[d.id].words), d.id)
        self.index.add(d.id, self.parsed[d.id], self.bands[d.id])


def _flip(doc_id: str, first_on: list[str], first_off: list[str]) -> None:
    """`doc_id` stops being a first copy: undo a pending "on", or record an "off"."""
    if doc_id in first_on:
        first_on.remove(doc_id)
    else:
        first_off.append(doc_id)
