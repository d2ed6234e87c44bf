"""Interleaved A/B of `bench import_inprocess` between this tree and another commit: each round runs the other
commit's tree, then this one, each in its own process and database, and the table gives every figure's median,
range and change (wall times, this process's CPU, the PostgreSQL backends' CPU, the merge's share).

    python -m bench import_ab [--against 5f78f92] [--rounds 9] [--rows 200000]

The other commit is checked out once as a git worktree under var/bench/ab/<commit> (its bench/import_inprocess.py
replaced by this tree's, so both measure the same way; its var/bench is this tree's, so both read the same file).
Each tree's database is herald_import_ab_other / _this (`--db-prefix`): their schemas differ. Print the load average with the figures:
on a shared machine only interleaved runs are comparable, and CPU times are steadier than wall times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench._common import ROOT, print_table

RESULT = re.compile(r"^(fresh|again): ([\d.]+) s  cpu ([\d.]+) s  server cpu ([\d.]+) s", re.M)
FIGURES = ("wall", "cpu", "server cpu", "merge")


def _worktree(commit: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", commit], cwd=ROOT, check=True, capture_output=True, text=True)
    path = ROOT / "var" / "bench" / "ab" / sha.stdout.strip()[:12]
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True)
    shutil.copy(ROOT / "bench" / "import_inprocess.py", path / "bench" / "import_inprocess.py")
    (path / "var").mkdir(exist_ok=True)
    if not (path / "var" / "bench").exists():
        (path / "var" / "bench").symlink_to(ROOT / "var" / "bench")
    return path


def _logged_at(line: str) -> dt.datetime:
    # The log's local time stamps; only their differences are used.
    return dt.datetime.strptime(line[:23] + "+0000", "%Y-%m-%d %H:%M:%S,%f%z")


def _merge_seconds(log: str) -> list[float]:
    """From the merge's first statement to the job's "done" line, per import (the rest of the wall time is the
    file's reading, parsing and staging)."""
    seconds: list[float] = []
    start: dt.datetime | None = None
    for line in log.splitlines():
        if "SET LOCAL work_mem" in line and start is None:
            start = _logged_at(line)
        elif " done: " in line and "import job" in line and start is not None:
            seconds.append((_logged_at(line) - start).total_seconds())
            start = None
    return seconds


def _run(name: str, tree: Path, rows: int, db_prefix: str) -> dict[str, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "import_inprocess", "--rows", str(rows), "--db", f"{db_prefix}_{name}"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    found = {m[1]: (float(m[2]), float(m[3]), float(m[4])) for m in RESULT.finditer(done.stdout)}
    merges = _merge_seconds(done.stderr)
    if set(found) != {"fresh", "again"} or len(merges) != 2:
        sys.exit(f"{name}: the run failed\n{done.stdout[-1000:]}\n{done.stderr[-3000:]}")
    return {
        label: dict(zip(FIGURES, (*found[label], merges[i]), strict=True)) for i, label in enumerate(("fresh", "again"))
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench import_ab")
    parser.add_argument("--against", default="5f78f92", help="the other commit (default: before issue 18's privacy)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db-prefix", default="herald_import_ab", help="databases <prefix>_other and <prefix>_this")
    args = parser.parse_args(argv)
    trees = {"other": _worktree(args.against), "this": ROOT}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in trees}
    loads = []
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: {args.rounds} rounds, {args.against} (other) and this tree")
    for number in range(args.rounds):
        for name, tree in trees.items():
            loads.append(os.getloadavg()[0])
            result = _run(name, tree, args.rows, args.db_prefix)
            runs[name].append(result)
            print(
                f"round {number + 1} {name:5s} load {loads[-1]:4.1f}  "
                + "  ".join(
                    f"{k} {v['wall']:.2f} s (cpu {v['cpu']:.2f}, server {v['server cpu']:.2f})"
                    for k, v in result.items()
                ),
                flush=True,
            )
    table = []
    for label in ("fresh", "again"):
        for figure in FIGURES:
            other = [r[label][figure] for r in runs["other"]]
            this = [r[label][figure] for r in runs["this"]]
            table.append(
                {
                    "import": label,
                    "figure": figure,
                    "other: median (range)": f"{statistics.median(other):.2f} ({min(other):.2f}-{max(other):.2f})",
                    "this: median (range)": f"{statistics.median(this):.2f} ({min(this):.2f}-{max(this):.2f})",
                    "change": f"{100 * (statistics.median(this) / statistics.median(other) - 1):+.1f} %",
                }
            )
    print_table(f"{args.rows:,} rows, seconds; load average {min(loads):.1f}-{max(loads):.1f}", table)


if __name__ == "__main__":
    main(sys.argv[1:])
