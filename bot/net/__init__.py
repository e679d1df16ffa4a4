"""Outbound HTTP to addresses members type, fenced so it can only reach the public internet."""
