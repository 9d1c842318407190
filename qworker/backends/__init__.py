"""Backends shipped in the core distribution (the embedded SQLite default)."""
