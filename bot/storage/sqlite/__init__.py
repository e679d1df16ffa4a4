"""The SQLite engine: one file, one process, no set-up (the default)."""
