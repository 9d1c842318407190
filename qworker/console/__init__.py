"""The qworker console: a web UI over the backend protocol (queues, messages, dead letters,
workers), served by ``qworker serve`` at ``/console/`` or alone by ``qworker console``.

``create_console(backend, settings)`` returns a :class:`~qworker.console.app.Console` whose
``app`` is the ASGI app to mount; see :mod:`qworker.console.app` for the layout.
"""

from qworker.console.app import MOUNT_PATH, Console, create_console, is_console_path, mounted, standalone_app
from qworker.console.settings import ConsoleSettings, parse_access_keys

__all__ = [
    "MOUNT_PATH",
    "Console",
    "ConsoleSettings",
    "create_console",
    "is_console_path",
    "mounted",
    "parse_access_keys",
    "standalone_app",
]
