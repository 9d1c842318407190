"""Public test helpers (``pip install 'qworker[testing]'``): :mod:`~qworker.testing.conformance`, the
backend conformance suite every backend subclasses; :mod:`~qworker.testing.lambda_events` and
:mod:`~qworker.testing.handlers`, to unit-test a handler with the event, context and outcome rules
the worker uses. Nothing is imported here, so the handler helpers do not need pytest."""
