"""A fake Discord on loopback for running the real bot end to end.

Start one with `await FakeDiscord.start()`, point the bot at `fake.base_url` (its
`DISCORD_API_BASE_URL`; `launch_bot` does this and waits for on_ready), and drive it
through the scenario API. Every REST call the bot makes is checked against Discord's
OpenAPI description, held more strictly where the description is looser than Discord
(undocumented fields, malformed links), and against Discord's documented rules that no
schema expresses (`rules.py`); a refused request gets Discord's own answer (400, 50035
and its `errors` object), and `assert_honest()` fails with each one.

    guild = await fake.create_guild()
    admin = fake.create_member(guild, "ada", manage_guild=True)
    result = await fake.invoke("avatar create", member=admin, options={"name": "Mia"},
                               attachments=[Attachment("mia.png", png_bytes, "image/png")])
    ack = await result.ack()                  # type 4/5/9 within Discord's 3 s, or fails
    reply = await result.final()              # the deferred reply once edited
    assert reply.ephemeral and "Mia" in reply.text
    pressed = await fake.press_button(reply, "Delete", member=admin)
    modal = await (await fake.invoke("avatar edit", member=admin)).modal()
    await fake.submit_modal(modal, {"personality": "cheerful"})
    choices = await fake.autocomplete("session start", "avatar", "Mi", member=admin)
    [dm] = fake.dms(admin)
"""

from tests.fakediscord.commands import SyncedCommand
from tests.fakediscord.entities import (
    Attachment,
    Channel,
    Guild,
    Member,
    Overwrite,
    Permission,
    Role,
    User,
)
from tests.fakediscord.gateway import Identity
from tests.fakediscord.interactions import (
    Ack,
    CallbackType,
    Choice,
    InteractionResult,
    Modal,
    ModalField,
    Rejection,
)
from tests.fakediscord.invocation import CommandUnavailable
from tests.fakediscord.launch import launch_bot
from tests.fakediscord.messages import Button, Message, SentFile
from tests.fakediscord.process import BotProcess, bot_environment, free_port
from tests.fakediscord.server import FakeDiscord, HonestyError
from tests.fakediscord.state import RestCall, Violation

__all__ = [
    "Ack",
    "Attachment",
    "BotProcess",
    "Button",
    "CallbackType",
    "Channel",
    "Choice",
    "CommandUnavailable",
    "FakeDiscord",
    "Guild",
    "HonestyError",
    "Identity",
    "InteractionResult",
    "Member",
    "Message",
    "Modal",
    "ModalField",
    "Overwrite",
    "Permission",
    "Rejection",
    "RestCall",
    "Role",
    "SentFile",
    "SyncedCommand",
    "User",
    "Violation",
    "bot_environment",
    "free_port",
    "launch_bot",
]
