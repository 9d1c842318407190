"""The installed qworker version, in a module of its own.

Modules that report the version (the CLI, the worker registry, the console, the OpenTelemetry
tracer, the Lambda context) import it from here, not from the package root, so none of them
depends on ``qworker/__init__.py`` and its lazily imported client (no import cycle).
"""

__version__ = "0.1.0"
