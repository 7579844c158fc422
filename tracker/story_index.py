"""An in-memory MinHash LSH index of texts that finds the candidate copies of a text; the pure `tracker.stories`
rule then decides. MinHash signatures come from datasketch, over each text's content words (stemmed, no
stopwords), so that a rewrite sharing most words is found as well as a forward; the banding (b bands of r rows)
is datasketch's optimum for the threshold. The LSH threshold and permutations were chosen on the tune half of
the story pair set (`tracker/data/stories/`).

Each band bucket keeps only its `bucket_size` most recent texts: in a stream of one template (a daily tally, a
numbered statement), where every text is a candidate of every other, a query stays bounded, and the copies a
text can have are the recent ones anyway.
"""

from __future__ import annotations

from collections import deque

from datasketch import MinHash, MinHashLSH

from tracker.stories import Parsed

NUM_PERM = 128
SEED = 1


_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED)  # its permutations are drawn once, not per text


def minhash(parsed: Parsed) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_TEMPLATE.permutations, scheme=_TEMPLATE.scheme)
    m.update_batch([w.encode("utf-8") for w in sorted(parsed.content or {" ".join(parsed.words)})])
    return m


class StoryIndex:
    """Texts by key, added in time order; `candidates` returns the keys whose content-word Jaccard is likely at
    least `threshold` (among each band's most recent `bucket_size`)."""

    def __init__(self, threshold: float = 0.25, bucket_size: int = 64) -> None:
        lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)  # only for its (b, r) optimum
        self.bands, self.rows = lsh.b, lsh.r
        self.bucket_size = bucket_size
        self._buckets: dict[tuple[int, bytes], deque[str]] = {}
        self._keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def bands_of(self, parsed: Parsed) -> list[tuple[int, bytes]]:
        """The text's LSH band keys (compute once, pass to `candidates` and `add`)."""
        h = minhash(parsed).hashvalues
        return [(i, h[i * self.rows : (i + 1) * self.rows].tobytes()) for i in range(self.bands)]

    def add(self, key: str, parsed: Parsed, bands: list[tuple[int, bytes]] | None = None) -> None:
        if key in self._keys or not parsed.words:
            return
        for band in bands or self.bands_of(parsed):
            self._buckets.setdefault(band, deque(maxlen=self.bucket_size)).append(key)
        self._keys.add(key)

    def candidates(self, parsed: Parsed, bands: list[tuple[int, bytes]] | None = None) -> list[str]:
        if not parsed.words or not self._keys:
            return []
        found: dict[str, None] = {}
        for band in bands or self.bands_of(parsed):
            for key in self._buckets.get(band, ()):
                found[key] = None
        return list(found)
