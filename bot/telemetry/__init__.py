"""What operators see of a running bot: Prometheus metrics, log context and log redaction.

A leaf package: it imports nothing else of the bot, so storage, the Runway client, services
and the web server can all record into it without bending the layers.
"""
