"""qworker's benchmarks; see benchmarks/README.md."""
