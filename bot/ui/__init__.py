"""Discord-facing helpers shared by the bot and its cogs: embeds, the error path."""
