"""`python -m bench <name> [args]` runs bench/<name>.py; with no name, lists them."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    names = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "fake_resend")
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        print("usage: python -m bench <name> [args]   (make bench BENCH='<name> [args]')")
        print("benchmarks:", ", ".join(names))
        raise SystemExit(2)
    name = sys.argv.pop(1)
    sys.argv[0] = f"bench.{name}"
    runpy.run_module(f"bench.{name}", run_name="__main__")


if __name__ == "__main__":
    main()
