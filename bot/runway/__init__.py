"""Runway's Characters API: the HTTP client, its models and errors, and a sandbox emulator."""
