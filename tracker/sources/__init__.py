"""Input adapters, one module per kind of source: reading (I/O) is kept apart from parsing (pure)."""
