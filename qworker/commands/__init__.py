"""The ``qworker`` subcommands, one module per command (group), plus :mod:`.common`.

:mod:`qworker.cli` assembles them into the ``qworker`` group. A new command lives in its own module
here, uses the shared options and :func:`~qworker.commands.common.run_with_backend` from
:mod:`.common`, and is named in :data:`qworker.cli.COMMANDS` (imported only when it runs).
"""
