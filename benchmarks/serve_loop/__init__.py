"""The parts of ``python -m benchmarks.bench_serve_loop``: the load generators (:mod:`.loops`,
:mod:`.wrk`), the measuring of one window (:mod:`.measure`), py-spy's view of the server
(:mod:`.profile`) and the markdown report (:mod:`.report`)."""
