"""Scoring: the Scorer interface (base), the transformer implementation (the only torch importer),
evaluation metrics and the keyword-lexicon baseline."""
