"""Functions in any language through the Lambda Runtime API, hosted by qworker without Docker.

A function whose ``Runtime`` is ``nodejsN.x`` or ``provided.*``, a ``--runtime-command``, or a
Python function with ``--isolation runtime-api`` runs as one runtime process per concurrency
slot, each talking to its own loopback listener that speaks Lambda's Runtime API
(``/2018-06-01/runtime/...``). To the event source mapping this is just another invoker
(:class:`~qworker.runtime.runtime_api.invoker.RuntimeApiInvoker`): the batch event, partial
batch responses and every ESM rule are those of the Python path.

Modules: :mod:`.runtimes` (which runtimes, no dependencies), :mod:`.launch` (the command and
environment of a runtime process), :mod:`.protocol`, :mod:`.state` and :mod:`.app` (the API),
:mod:`.listener` (the HTTP server), :mod:`.process` and :mod:`.output` (processes and their output),
:mod:`.environment` (one execution environment), :mod:`.invoker` (the pool).
"""
