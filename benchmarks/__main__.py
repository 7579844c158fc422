"""Run the benchmarks and print one table: `python -m benchmarks [NAME ...]`."""

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
    rows: list[dict[str, str]] = []
    for name in names:
        rows.extend(BENCHMARKS[name]())
    print_table(rows)
    return 0


def print_table(rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-|-".join("-" * widths[c] for c in cols))
    for r in rows:
        print(" | ".join(r.get(c, "").ljust(widths[c]) for c in cols))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
