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
from datetime import timedelta

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
    window = timedelta(days=settings.window_days)
    bar = progress("stories", total, "docs")
    try:
        while batch := store.ungrouped(settings.slice_size):
            _group_slice(store, batch, window, settings, summary)
            bar.update(len(batch))
    finally:
        bar.close()
    log.info("stories: %d documents grouped, %d of them copies", summary.grouped, summary.copies)
    return summary


def _group_slice(
    store: Store, batch: list[StoryDoc], window: timedelta, settings: StorySettings, summary: StorySummary
) -> None:
    index = StoryIndex(settings.lsh_threshold)
    parsed: dict[str, Parsed] = {}
    known: dict[str, StoryDoc] = {}
    first_of: dict[str, StoryDoc] = {}  # story -> its first seen copy
    for d in store.grouped_between(batch[0].published_at - window, batch[-1].published_at + window):
        _remember(d, d.story_id or d.id, index, parsed, known)
    for d in store.story_firsts(sorted({k.story_id for k in known.values() if k.story_id})):
        first_of[d.story_id or d.id] = d  # a story's first copy, also when it is older than the window
    exact = {" ".join(p.words): k for k, p in parsed.items()}  # the same words: a copy, nothing to verify
    stories: dict[str, str] = {}
    first_on: list[str] = []
    first_off: list[str] = []
    for d in batch:
        p = Parsed.of(d.text)
        match = _match(d, p, index, parsed, known, exact, window, settings)
        story = d.id
        if match is not None:
            story = match.story_id or match.id
            summary.copies += 1
            first = first_of.get(story)
            if first is not None and (first.published_at, first.id) <= (d.published_at, d.id):
                first_off.append(d.id)  # a later copy: saved as its own first, now it is not
            else:
                if first is not None:
                    _flip(first.id, first_on, first_off)
                first_of[story] = d
        else:
            first_of[story] = d
        stories[d.id] = story
        exact.setdefault(" ".join(p.words), d.id)
        _remember(StoryDoc(d.id, d.text, d.published_at, story, first_of[story] is d), story, index, parsed, known, p)
    summary.grouped += len(batch)
    store.assign_stories(stories, first_on, first_off)


def _match(
    d: StoryDoc,
    p: Parsed,
    index: StoryIndex,
    parsed: dict[str, Parsed],
    known: dict[str, StoryDoc],
    exact: dict[str, str],
    window: timedelta,
    settings: StorySettings,
) -> StoryDoc | None:
    """The earlier document `d` copies, if any: one with the same words, else the first LSH candidate within the
    window that the rule accepts, the closest in time first (at most `max_checks` verified, so that a stream of
    one template, where every text is a candidate of every other, stays linear)."""
    same = exact.get(" ".join(p.words))
    if same is not None and abs(known[same].published_at - d.published_at) <= window:
        return known[same]
    near = sorted(
        (abs(known[k].published_at - d.published_at), k)
        for k in index.candidates(p)
        if abs(known[k].published_at - d.published_at) <= window
    )
    for _, k in near[: settings.max_checks]:
        if compare_parsed(p, parsed[k], settings.rule).same_story:
            return known[k]
    return None


def _flip(doc_id: str, first_on: list[str], first_off: list[str]) -> None:
    """`doc_id` stops being a first copy: undo a pending "on", or record an "off"."""
    if doc_id in first_on:
        first_on.remove(doc_id)
    else:
        first_off.append(doc_id)


def _remember(
    d: StoryDoc,
    story: str,
    index: StoryIndex,
    parsed: dict[str, Parsed],
    known: dict[str, StoryDoc],
    p: Parsed | None = None,
) -> None:
    parsed[d.id] = p or Parsed.of(d.text)
    known[d.id] = StoryDoc(d.id, d.text, d.published_at, story, d.story_first)
    index.add(d.id, parsed[d.id])
