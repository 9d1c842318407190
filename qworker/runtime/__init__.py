"""The worker runtime: Lambda's SQS event source mapping semantics (``qworker run``).

``config`` (settings, AWS's validation), ``batcher`` (ESM-B-*), ``scaling`` (slots and the
concurrency controller, ESM-S-*), ``invoker``/``process_pool`` (calling the handler),
``acks`` (deletes and heartbeats), ``mapping`` (one mapping at work), ``worker`` (the process),
``metrics`` (Prometheus).
"""
