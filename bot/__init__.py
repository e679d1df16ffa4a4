"""Runway Characters for Discord: conversational video avatars for community servers."""

__version__ = "0.1.0"
