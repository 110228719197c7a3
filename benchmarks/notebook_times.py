"""How long does each chapter take to execute, and which cells dominate?

``python -m benchmarks.notebook_times [PREFIX ...]`` (``make notebook-times``) executes each
chapter of ``notebooks/`` once with nbclient, as nbval does, in a fresh kernel with the book's
environment (TensorFlow, default thread counts, the notebook's default seed), and prints the
wall time of the whole notebook and of its slowest cells. Kernel start-up is included in the
total. The results go to ``benchmarks/.cache/notebook_times.json`` (not committed: the numbers
belong to the machine that ran them). The book's target is about 90 s per chapter on 2 cores;
nothing asserts it, since a timed assert would fail on a slower or busier machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / ".cache" / "notebook_times.json"


def time_notebook(path: Path, timeout: int = 1200) -> dict:
    """Execute one chapter; returns its total seconds and per-cell seconds (code cells only)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow", PYTHONHASHSEED="0",
               PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    cells: list[dict] = []
    started = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            client.execute_cell(cell, index)
            first_line = next((line for line in cell.source.splitlines()
                               if line.strip() and not line.startswith(("---", "label:", "caption:",
                                                                       "tags:", "  "))), "")
            cells.append({"cell": index, "seconds": round(time.perf_counter() - t0, 2),
                          "first_line": first_line[:70]})
    return {"notebook": path.stem, "seconds": round(time.perf_counter() - started, 1),
            "cpu_count": os.cpu_count(), "cells": cells}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 04 06 (default: all)")
    parser.add_argument("--top", type=int, default=3, help="slowest cells listed per notebook")
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
    if args.prefixes:
        paths = [p for p in paths if any(p.name.startswith(s) for s in args.prefixes)]
    if not paths:
        parser.error(f"no notebook matches {args.prefixes}")
    records = []
    for path in paths:
        record = time_notebook(path)
        records.append(record)
        slowest = sorted(record["cells"], key=lambda c: -c["seconds"])[: args.top]
        print(f"{record['notebook']}: {record['seconds']:.1f} s", flush=True)
        for c in slowest:
            print(f"    cell {c['cell']:>3}: {c['seconds']:6.1f} s  {c['first_line']}", flush=True)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                  "load_average_at_end": os.getloadavg(), "notebooks": records},
                                 indent=1) + "\n")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
