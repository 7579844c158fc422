"""Offline language detection (lingua), restricted to the languages named in config for speed and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.errors import ConfigError, ScoringError

PREFER_RATIO = 0.5


class LanguageDetector:
    """Detects the ISO 639-1 code of each text among a fixed set of candidate languages."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self._detector: Any = None

    def _build(self) -> Any:
        if self._detector is None:
            try:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
            except ImportError:  # pragma: no cover - declared dependency
                raise ScoringError("language detection needs lingua: pip install lingua-language-detector") from None
            candidates = []
            for code in self.languages:
                iso = getattr(IsoCode639_1, code.upper(), None)
                if iso is None:
                    raise ConfigError(f"scoring.detect_languages: {code!r} is not an ISO 639-1 code lingua knows")
                candidates.append(Language.from_iso_code_639_1(iso))
            if len(candidates) < 2:
                raise ConfigError("scoring.detect_languages: list at least two languages")
            self._detector = LanguageDetectorBuilder.from_languages(*candidates).build()
        return self._detector

    def detect(self, texts: Sequence[str], prefer: Sequence[str] = ()) -> list[str | None]:
        """The most likely language of each text; None when the text has no letters to judge.

        A text detected as a language outside `prefer` (the languages with a model) gets a second look: when a
        preferred language is nearly as likely (at least PREFER_RATIO of the best confidence), it wins, so a short
        English slogan that lingua finds "French-looking" is not left unscored."""
        detector = self._build()
        results = detector.detect_languages_in_parallel_of(list(texts))
        found = [r.iso_code_639_1.name.lower() if r is not None else None for r in results]
        if not prefer:
            return found
        wanted = set(prefer)
        for i, lang in enumerate(found):
            if lang is None or lang in wanted:
                continue
            values = detector.compute_language_confidence_values(texts[i])
            best = values[0].value if values else 0.0
            for v in values:
                code = v.language.iso_code_639_1.name.lower()
                if code in wanted and best > 0 and v.value >= PREFER_RATIO * best:
                    found[i] = code
                    break
        return found
