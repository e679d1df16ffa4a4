"""Discord extensions: one cog per command group. Cogs parse and render; rules live in
`bot.services`."""
