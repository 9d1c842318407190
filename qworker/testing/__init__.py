"""Public test helpers: the backend conformance suite that every backend subclasses."""
