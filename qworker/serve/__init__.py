"""``qworker serve``: the Amazon SQS API over any qworker backend.

The server speaks both wire protocols SQS has (AWS JSON 1.0, what current SDKs send, and the
older query protocol with XML answers), runs every SQS action on the backend protocol and
nothing else, and answers with SQS's error codes, statuses and digests, so that SDKs, the AWS
CLI and infrastructure tools work against it unchanged.

Modules: ``app`` (ASGI, routing, errors; the console at ``/console/``), ``protocol`` (uvicorn's
HTTP protocol with bounded request heads and bodies, one write per response), ``body`` (capped
body reads), ``json_protocol`` / ``query_input`` / ``xml_output`` (the wire formats), ``call``
(one call's parameters), ``actions`` (one module per group of SQS actions), ``attributes`` and
``messages`` (SQS shapes <-> backend types), ``batcher`` (one backend call for the single sends
and deletes of an event-loop turn), ``tasks`` (message move tasks), ``service`` (the backend and
the per-process state), ``auth`` (SigV4, :mod:`qworker.serve.sigv4`), ``metrics``, ``runner``
(uvicorn, ``--workers``).
"""
