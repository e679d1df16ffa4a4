"""Helpers shared by the test suites: reference files and OpenAPI validators."""
