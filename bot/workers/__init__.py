"""Work that needs a lot of memory for a moment, run in short-lived child processes."""
