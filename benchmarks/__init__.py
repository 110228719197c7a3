"""Benchmark suite: quality (KL gap to the exact density), peers (zuko), scaling.

Entry point: ``python -m benchmarks.run [--quick]`` (or ``make bench`` / ``make bench-quick``).
It writes ``benchmarks/results.json`` and ``benchmarks/results.md``; ``python -m
benchmarks.report`` turns the JSON into ``book/performance.md`` and ``book/images/bench_*.png``.
"""
