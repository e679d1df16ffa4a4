"""An in-memory emulator of Runway's Characters API, in the production or seed dialect.

Tests run it in-process; the bot runs it with `RUNWAY_SANDBOX=true`; and
`python -m bot.runway.sandbox` runs it alone. See `Sandbox` for the control surface.
"""

from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.errors import SandboxError
from bot.runway.sandbox.sandbox import Sandbox

__all__ = ["Clock", "Sandbox", "SandboxConfig", "SandboxError"]
