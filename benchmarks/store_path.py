"""Filling a benchmark's store through the store's own write path (its aggregates and story grouping included)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from tracker.models import Document, Score
from tracker.storage import Store


def save_in_chunks(store: Store, pairs: Iterable[tuple[Document, Score]], chunk: int = 10_000) -> None:
    """Each document and its score, `chunk` documents at a time: the documents of a chunk, then their scores."""
    it = iter(pairs)
    while batch := list(islice(it, chunk)):
        store.save_documents([doc for doc, _ in batch])
        store.save_scores([score for _, score in batch])
