"""Run the fault matrix (tests/fault_cases.py) through the real command line, one subprocess per case, and
count the clean errors: exit status 2, one line that names the file or setting, no traceback, no output, a
finished experiment beside it left byte for byte as it was, and (for a planted link) the file it points at too.

    python benchmarks/faults.py [--append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from quick_comparison import RESULTS, machine, publish  # noqa: E402

from fault_cases import FAULTS, VICTIM, VICTIM_TEXT, snapshot  # noqa: E402


def run_case(fault, folder: Path) -> tuple[bool, str]:
    """Provoke one fault in a fresh process; (clean, what was wrong if not)."""
    kept = folder / "out" / "kept"
    kept.mkdir(parents=True)
    (kept / "results.csv").write_text("experiment,dataset\nkept,digits\n")
    argv, expected = fault.setup(folder)
    before = snapshot(kept)
    done = subprocess.run([sys.executable, "-m", "aecompare", *argv], capture_output=True, text=True, timeout=600)
    problems = [
        f"exit {done.returncode}" if done.returncode != 2 else "",
        "traceback" if "Traceback" in done.stderr else "",
        f"message lacks {expected!r}" if expected not in done.stderr else "",
        "more than one line" if done.stderr.count("\n") != 1 else "",
        "printed output (scores?)" if done.stdout else "",
        "changed a finished experiment" if snapshot(kept) != before else "",
        "changed the file a planted link points at"
        if (folder / VICTIM).exists() and (folder / VICTIM).read_bytes() != VICTIM_TEXT
        else "",
    ]
    problems = [p for p in problems if p]
    return not problems, "; ".join(problems) + (f": {done.stderr.strip()[-300:]}" if problems else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help=f"append the section to {RESULTS}")
    args = parser.parse_args()
    start = time.perf_counter()
    rows, clean = [], 0
    for fault in FAULTS:
        with tempfile.TemporaryDirectory() as tmp:
            ok, why = run_case(fault, Path(tmp))
        clean += ok
        rows.append(f"| {fault.kind} | {fault.name} | {'clean error' if ok else 'NOT CLEAN: ' + why} |")
        print(rows[-1], flush=True)
    lines = [
        f"## Fault matrix (issues 13 and 21), {dt.date.today().isoformat()}",
        "",
        "- Command: `python benchmarks/faults.py` (each case of `tests/fault_cases.py` as a fresh "
        "`python -m aecompare` process)",
        f"- Machine: {machine()}",
        f"- **{clean} of {len(FAULTS)} cases gave a clean error** (exit 2, one line naming the file or "
        "setting, no traceback, no output) and none changed the finished experiment beside it or the file a "
        "planted link points at; "
        f"{time.perf_counter() - start:.0f} s in all",
        "",
        "| kind | case | outcome |",
        "|---|---|---|",
        *rows,
    ]
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
