"""Run the benchmarks and print one table per benchmark: `python -m benchmarks [NAME ...]`."""

from __future__ import annotations

import sys

from benchmarks import bench_export, bench_ingest, bench_ray, bench_run, bench_score, bench_stories, bench_trends

BENCHMARKS = {
    "ingest": bench_ingest.run,
    "score": bench_score.run,
    "ray": bench_ray.run,
    "trends": bench_trends.run,
    "run": bench_run.run,
    "export": bench_export.run,
    "stories": bench_stories.run,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    tables = [BENCHMARKS[name]() for name in names]  # every benchmark runs before any table is printed
    for rows in tables:
        print_table(rows)
        print()
    return 0


def print_table(rows: list[dict[str, str]]) -> None:
    """One benchmark's rows; its columns are every key any of them has, in order of first appearance (a
    benchmark's rows need not share all their keys, and none may go unprinted)."""
    if not rows:
        return
    cols = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-|-".join("-" * widths[c] for c in cols))
    for r in rows:
        print(" | ".join(r.get(c, "").ljust(widths[c]) for c in cols))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
