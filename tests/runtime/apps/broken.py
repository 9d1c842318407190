"""A module that fails while it is imported (for the exit-4 test)."""

raise RuntimeError("this module is broken on purpose")
