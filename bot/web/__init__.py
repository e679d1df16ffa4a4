"""The bot's small web server: join pages for live sessions, and a health check."""
