"""The error raised for a filter pattern that Lambda would refuse (ESM-CFG-5).

Lambda answers every bad ``FilterCriteria`` with the same opaque text, ``InvalidParameterValueException:
"Invalid filter pattern definition."``. qworker keeps that text as the first sentence, so logs and
scripts that look for it still work, and adds what AWS never says: which filter, which place in the
pattern (``body.price[0]``) and what is wrong there.
"""

from __future__ import annotations

from qworker.errors import ConfigError

#: the exact text Lambda returns for an invalid filter (ESM-CFG-5, recorded in [LS-SNAP])
AWS_INVALID_FILTER_MESSAGE = "Invalid filter pattern definition."


class InvalidFilterPattern(ConfigError):
    """A ``--filter`` pattern is invalid; ``qworker run`` exits with 2 before it polls anything.

    ``str(error)`` is AWS's text followed by the hint, e.g.
    ``Invalid filter pattern definition. Filter 1 at body.price[0]: numeric operand must be a number``.
    The parts are also available as attributes for programs: ``filter_index`` (0-based, or ``None``
    for an error about the set of filters), ``path`` (``""`` for the pattern as a whole) and
    ``reason``.
    """

    code = "InvalidParameterValueException"

    def __init__(self, reason: str, *, path: str = "", filter_index: int | None = None) -> None:
        where = ""
        if filter_index is not None:
            where = f"Filter {filter_index + 1}"
        if path:
            where = f"{where} at {path}" if where else f"at {path}"
        hint = f"{where}: {reason}" if where else reason
        super().__init__(f"{AWS_INVALID_FILTER_MESSAGE} {hint}")
        self.reason = reason
        self.path = path
        self.filter_index = filter_index
