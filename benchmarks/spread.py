"""How much does every asserted number of the book move between seeds and CPU kernel families?

Each chapter is executed (nbclient, errors allowed) for every combination of seed
(``GAUSSIANIZATION_SEED``) and oneDNN setting (``TF_ENABLE_ONEDNN_OPTS=1`` and ``=0``, the
two kernel families TensorFlow uses on x86 CPUs), with :mod:`benchmarks.assert_probe`
recording the operands of every comparison in every ``assert``. The summary, with the
mean, standard deviation, minimum and maximum of each asserted quantity, is written to
``benchmarks/spread.json``; :mod:`benchmarks.spread_report` turns it into the book's
reproducibility page and the ``# spread`` comments above the notebooks' asserts.

Usage (``make spread`` runs the first line; about an hour on 2 cores)::

    python -m benchmarks.spread run                      # all chapters, seeds 0-4, both families
    python -m benchmarks.spread run --notebooks 06 --seeds 0 1 2 3 4
    python -m benchmarks.spread summarise                # raw runs -> benchmarks/spread.json

Raw runs are cached in ``benchmarks/.cache/spread`` (one JSON per notebook, seed and
family), so a chapter can be re-measured on its own and summarised with the others.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "spread"
SUMMARY = ROOT / "benchmarks" / "spread.json"
FAMILIES = {"1": "oneDNN on", "0": "oneDNN off"}
_MARK = "__SPREAD_LOG__"

_PROBE_CELL = """\
import sys
sys.path.insert(0, {root!r})
from benchmarks.assert_probe import FAILED, RECORDER, ProbeTransformer, make_failure_log, make_recorder
__spread_registry__, __spread_log__ = {{}}, []
get_ipython().ast_transformers.append(ProbeTransformer(__spread_registry__))
globals()[RECORDER] = make_recorder(__spread_registry__, __spread_log__)
globals()[FAILED] = make_failure_log(__spread_log__)
"""
_DUMP_CELL = f"import json as _json\nprint({_MARK!r} + _json.dumps(__spread_log__))"


def notebook_paths(root: Path, selection=None) -> list[Path]:
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.md"))
    if selection:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selection)]
    return paths


def run_path(name: str, seed: int, family: str) -> Path:
    return CACHE / f"{name}__seed{seed}__onednn{family}.json"


def execute(source_root: str, notebook: str, seed: int, family: str, threads: int, timeout: int) -> dict:
    """Execute one notebook with one seed and kernel family; returns the raw run record."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    path = Path(source_root) / "notebooks" / notebook
    nb = jupytext.read(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_PROBE_CELL.format(root=source_root)))
    nb.cells.append(nbformat.v4.new_code_cell(_DUMP_CELL))
    env = dict(os.environ, GAUSSIANIZATION_SEED=str(seed), TF_ENABLE_ONEDNN_OPTS=family,
               TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow", PYTHONHASHSEED="0",
               PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg")
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - started
    errors, stderr, log = [], [], None
    for index, cell in enumerate(nb.cells[1:-1], start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append({"cell": index, "ename": out["ename"], "evalue": out["evalue"][:500],
                               "line": _failing_line(out)})
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                stderr.append({"cell": index, "text": out["text"][:500]})
    for out in nb.cells[-1].get("outputs", []):
        if out.get("output_type") == "stream" and _MARK in out.get("text", ""):
            log = json.loads(out["text"].split(_MARK, 1)[1])
    if log is None:
        errors.append({"cell": len(nb.cells) - 1, "ename": "SpreadError", "evalue": "no log", "line": ""})
        log = []
    errors += [{"cell": None, "ename": "AssertionError", "evalue": entry["assert"], "line": entry["failed"]}
               for entry in log if "failed" in entry]
    log = [entry for entry in log if "failed" not in entry]
    return {"notebook": path.stem, "seed": seed, "onednn": family, "threads": threads, "cpu": _cpu_model(),
            "seconds": round(seconds, 1), "errors": errors, "stderr": stderr, "log": log}


def _failing_line(out) -> str:
    for line in out.get("traceback", []):
        plain = _strip_ansi(line)
        for row in plain.splitlines():
            if row.lstrip().startswith("---->"):
                return row.split("---->", 1)[1].strip()[:300]
    return ""


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _worker(args) -> str:
    source_root, notebook, seed, family, threads, timeout = args
    record = execute(source_root, notebook, seed, family, threads, timeout)
    target = run_path(Path(notebook).stem, seed, family)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record))
    status = "ok" if not record["errors"] else f"{len(record['errors'])} error(s)"
    stderr = f", {len(record['stderr'])} stderr output(s)" if record["stderr"] else ""
    return f"{record['notebook']} seed {seed} oneDNN {family}: {record['seconds']:.0f} s, {status}{stderr}"


def run(args) -> None:
    source = Path(args.source).resolve()
    jobs = [(str(source), p.name, seed, family, args.threads, args.timeout)
            for p in notebook_paths(source, args.notebooks) for seed in args.seeds for family in args.families]
    print(f"{len(jobs)} notebook runs, {args.jobs} at a time, {args.threads or 'default'} thread(s) each", flush=True)
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for k, line in enumerate(pool.map(_worker, jobs), start=1):
            print(f"[{k}/{len(jobs)} {time.perf_counter() - started:6.0f} s] {line}", flush=True)


def _stats(values):
    finite = [v for v in values if v is not None]
    if not finite:
        return {"mean": None, "sd": None, "min": None, "max": None}
    return {"mean": statistics.fmean(finite), "sd": statistics.stdev(finite) if len(finite) > 1 else 0.0,
            "min": min(finite), "max": max(finite)}


def raw_values(records: list[dict]) -> dict:
    """Per comparison key: for each run (in ``records`` order) the operands of every execution."""
    keys = sorted({entry["key"] for record in records for entry in record["log"]})
    return {key: [[[entry["values"], entry["passed"]] for entry in record["log"] if entry["key"] == key]
                  for record in records] for key in keys}


def site_summary(site, per_run) -> dict:
    """Judge one site with its current bounds: per run the worst execution's slack and quantity."""
    from benchmarks.assert_probe import evaluate

    passed, slacks, quantities = [], [], []
    for executions in per_run:
        # A comparison of numbers is judged with today's bound; any other keeps its recorded verdict.
        judged = [evaluate(site, values) for values, _ in executions]
        judged = [(j if j[0] is not None else (recorded, None, None))
                  for j, (_, recorded) in zip(judged, executions)]
        scored = [j for j in judged if j[1] is not None]
        passed.append(all(j[0] for j in judged) if judged else None)  # None: not reached in this run
        worst = min(scored, key=lambda j: j[1]) if scored else (None, None, None)
        slacks.append(worst[1])
        quantities.append(worst[2])
    q = _stats(quantities)
    varies = q["mean"] is not None and (q["max"] - q["min"]) > 1e-12 * max(1.0, abs(q["mean"]))
    return {"text": site.text, "stochastic": bool(varies), "passed": passed,
            "executions": [len(e) for e in per_run], "quantity": quantities, "slack": slacks,
            "quantity_stats": q, "slack_stats": _stats(slacks)}


def summarise_notebook(entry: dict, sites) -> dict:
    """Statistics for every current comparison site of a notebook (``None`` values: never measured)."""
    values = entry["values"]
    return {site.key: (site_summary(site, values[site.key]) if site.key in values else None) for site in sites}


def code_cells(path: Path) -> list[str]:
    import jupytext

    return [cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code"]


def load_summary() -> dict:
    return json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {"meta": {}, "notebooks": {}}


def summarise(args) -> None:
    """Merge the cached runs into benchmarks/spread.json and recompute every statistic."""
    from benchmarks.assert_probe import notebook_sites

    summary = load_summary()
    notebooks = summary["notebooks"]
    for path in notebook_paths(ROOT):
        records = [json.loads(p.read_text()) for p in sorted(CACHE.glob(f"{path.stem}__*.json"))]
        if records:
            records.sort(key=lambda r: (r["seed"], -int(r["onednn"])))
            notebooks[path.stem] = {
                "runs": [{k: r[k] for k in ("seed", "onednn", "threads", "cpu", "seconds", "errors", "stderr")}
                         for r in records],
                "values": raw_values(records),
                "commit": args.commit or _commit(),
            }
        if path.stem in notebooks:
            notebooks[path.stem]["sites"] = summarise_notebook(notebooks[path.stem],
                                                               notebook_sites(code_cells(path)))
    runs = [r for nb in notebooks.values() for r in nb["runs"]]
    from gaussianization.notebook import quiet_tensorflow_import

    quiet_tensorflow_import()  # only for the versions in the metadata
    import keras
    import tensorflow as tf

    summary["meta"] = {
        "seeds": sorted({r["seed"] for r in runs}), "onednn": sorted({r["onednn"] for r in runs}, reverse=True),
        "threads": sorted({r["threads"] for r in runs}), "cpus": sorted({r["cpu"] for r in runs}),
        "machine": platform.machine(),
        "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "summarised": datetime.date.today().isoformat(),
    }
    SUMMARY.write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
    print(f"wrote {SUMMARY.relative_to(ROOT)}: {len(notebooks)} notebooks, seeds {summary['meta']['seeds']}, "
          f"oneDNN {summary['meta']['onednn']}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks over seeds and kernel families")
    p_run.add_argument("--notebooks", nargs="*", help="name prefixes, e.g. 02 06 (default: all)")
    p_run.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    p_run.add_argument("--families", nargs="*", default=["1", "0"], choices=sorted(FAMILIES))
    p_run.add_argument("--jobs", type=int, default=2, help="notebooks executed at once")
    p_run.add_argument("--threads", type=int, default=1, help="TF intra-op threads per notebook (0: default)")
    p_run.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    p_run.add_argument("--source", default=str(ROOT), help="repository copy to execute (default: this one)")
    p_sum = sub.add_parser("summarise", help="merge cached runs into benchmarks/spread.json, recompute statistics")
    p_sum.add_argument("--commit", default=None, help="commit the runs were made from (default: HEAD)")
    args = parser.parse_args(argv)
    {"run": run, "summarise": summarise}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
