#!/usr/bin/env python3
"""House rules import-linter cannot express, checked by `make lint`:

- no module in tracker/ over 400 lines (split by responsibility before that);
- nothing below the shells reads the clock: `datetime.now()`, `datetime.utcnow()`, `date.today()` and
  `time.time()` appear only in tracker/cli/ and tracker/scheduler.py (stages take `now`).

Exit 1 with one line per breach.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 400
SHELLS = ("cli/", "scheduler.py")
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}


def clock_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if (name, node.func.attr) in CLOCK_CALLS:
                lines.append(node.lineno)
    return lines


def main(root: Path) -> int:
    problems = []
    for path in sorted((root / "tracker").rglob("*.py")):
        rel = path.relative_to(root / "tracker").as_posix()
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n > MAX_LINES:
            problems.append(f"tracker/{rel}: {n} lines, over {MAX_LINES}; split it by responsibility")
        if not rel.startswith(SHELLS):
            for line in clock_reads(ast.parse(text, filename=str(path))):
                problems.append(f"tracker/{rel}:{line}: reads the clock below the shells; take `now` instead")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
