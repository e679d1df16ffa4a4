"""End-to-end tests: the real bot process against a fake Discord and the Runway sandbox."""
