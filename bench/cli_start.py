"""Benchmark: how fast ``nuages`` commands start, next to ``python -c pass`` (issue #19).

Runs each command REPEAT times in a fresh process, in the same run as the bare
interpreter, and prints the median wall time and the median CPU time (user + system of
the child; steadier than wall time on a busy machine) with the difference to
``python -c pass``. The commands run against a fresh SQLite data dir in a temporary
directory (migrated first), so ``billing meter`` and ``invoicing run --dry-run`` do real
(empty) work. Exit 1 when a command's median wall time reaches --limit seconds.
``--compare SRC`` also runs each command from another checkout's ``src`` (e.g. the
commit before the lazy imports) in the same run, for a before/after.

    .venv/bin/python bench/cli_start.py --repeat 7 --limit 1.0 [--compare ../old/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: list[list[str]] = [
    ["--help"],
    ["billing", "--help"],
    ["billing", "meter", "--help"],
    ["invoicing", "run", "--help"],
    ["host", "add", "--help"],
    ["image", "build-tiny", "--help"],
    ["billing", "meter"],
    ["invoicing", "run", "--dry-run"],
    ["host", "list"],
]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start-up time of nuages commands")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--limit", type=float, default=1.0, help="max median wall seconds")
    parser.add_argument("--compare", type=Path, help="another checkout's src directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "NUAGES_DATA_DIR": str(Path(tmp) / "data"),
            "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
            "NUAGES_PROGRESS": "never",
        }
        env.pop("NUAGES_DATABASE_URL", None)
        nuages = [sys.executable, "-m", "nuages"]
        subprocess.run([*nuages, "db", "upgrade"], env=env, capture_output=True, check=True)
        rows: list[tuple[str, float, float, int]] = []
        for label, cmd in [("python -c pass", [sys.executable, "-c", "pass"])] + [
            ("nuages " + " ".join(c), [*nuages, *c]) for c in COMMANDS
        ]:
            envs = [("", env)]
            if args.compare is not None and label != "python -c pass":
                envs.append((" [compare]", env | {"PYTHONPATH": str(args.compare.resolve())}))
            for suffix, run_env in envs:
                runs = [timed(cmd, run_env) for _ in range(args.repeat)]
                rows.append(
                    (
                        label + suffix,
                        statistics.median(r[0] for r in runs),
                        statistics.median(r[1] for r in runs),
                        runs[-1][2],
                    )
                )
    base_wall, base_cpu = rows[0][1], rows[0][2]
    print(f"{'command':54} {'wall s':>7} {'cpu s':>7} {'+wall':>7} {'+cpu':>7}  exit")
    slow = []
    for label, wall, cpu, code in rows:
        print(
            f"{label:54} {wall:7.3f} {cpu:7.3f} {wall - base_wall:7.3f} {cpu - base_cpu:7.3f}"
            f"  {code}"
        )
        if label != "python -c pass" and "[compare]" not in label and wall >= args.limit:
            slow.append(label)
    if slow:
        print(f"at or over {args.limit} s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
