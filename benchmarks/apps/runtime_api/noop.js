// A no-op Node.js function for benchmarks/bench_runtime_api.py.
exports.handler = async () => null;
