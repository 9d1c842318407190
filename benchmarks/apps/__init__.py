"""The no-op handlers and tasks the benchmark runs: one module per system, plus :mod:`probe`.

These modules are imported by worker processes, some of them in a peer library's own virtual
environment, so they depend only on the standard library and the one library they benchmark.
"""
