"""The harness end to end against a real discord.py bot (the probe bot, one process).

Each test drives one Discord flow through the scenario API and checks both what the
member sees and that the fake behaved like Discord (and that the bot's requests were
valid, via the autouse honesty check).
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.fakediscord import (
    Attachment,
    BotProcess,
    CallbackType,
    CommandUnavailable,
    FakeDiscord,
    Guild,
)
from tests.fakediscord.gateway import GUILDS_INTENT, PRIVILEGED_INTENTS

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_bot_identifies_without_privileged_intents(
    fake: FakeDiscord, probe: BotProcess
) -> None:
    assert fake.identity is not None
    assert fake.identity.intents & GUILDS_INTENT
    assert not fake.identity.intents & PRIVILEGED_INTENTS
    assert [c.name for c in fake.commands()] == sorted(c.name for c in fake.commands())
    assert {"echo", "think", "team", "settings"} <= {c.name for c in fake.commands()}


async def test_options_are_typed_and_the_reply_is_public(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "ana")
    result = await fake.invoke(
        "echo", member=member, options={"text": "hi", "times": 2, "shout": True}
    )
    ack = await result.ack()
    assert ack.type is CallbackType.CHANNEL_MESSAGE
    assert ack.latency < 1.0
    reply = await result.final()
    assert reply.content == "HI HI"
    assert not reply.ephemeral
    sent = result.payload["data"]["options"]
    assert {o["name"]: o["type"] for o in sent} == {"text": 3, "times": 4, "shout": 5}


async def test_the_client_refuses_out_of_range_and_unknown_options(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "bo")
    with pytest.raises(ValueError, match="above the maximum 3"):
        await fake.invoke("echo", member=member, options={"text": "x", "times": 9})
    with pytest.raises(ValueError, match="no options"):
        await fake.invoke("echo", member=member, options={"text": "x", "loud": True})
    with pytest.raises(ValueError, match="is required"):
        await fake.invoke("echo", member=member)


async def test_a_deferred_ephemeral_reply_is_edited(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "cy")
    result = await fake.invoke("think", member=member, options={"delay": 0.2})
    ack = await result.ack()
    assert ack.deferred
    assert ack.ephemeral
    thinking = await result.original()
    assert thinking.loading
    final = await result.final(timeout=5)
    assert not final.loading
    assert final.ephemeral
    assert final.embed.title == "Done"


async def test_first_followup_completes_a_deferral_and_later_ones_are_new(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "di")
    result = await fake.invoke("chatty", member=member)
    final = await result.final()
    assert final.content.startswith("first")
    second = await result.followup()
    assert second.content == "second"
    assert second.ephemeral
    await asyncio.sleep(0.2)
    assert (await result.original()).content == "first, edited"


async def test_attachments_go_both_ways(fake: FakeDiscord, probe: BotProcess, guild: Guild) -> None:
    member = fake.create_member(guild, "ed")
    data = bytes(range(256)) * 40
    result = await fake.invoke(
        "upload", member=member, attachments=[Attachment("photo.png", data, "image/png", 64, 64)]
    )
    reply = await result.final()
    assert reply.content == f"photo.png {len(data)} {hashlib.sha256(data).hexdigest()}"
    (sent,) = reply.files
    assert sent.filename == "reversed.bin"
    assert sent.data == data[::-1]
    call = fake.calls("POST", "/interactions/{interaction_id}/{interaction_token}/callback")[-1]
    assert call.uploads == 1


async def test_dms_arrive_or_fail_with_50007(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    open_member = fake.create_member(guild, "fay")
    result = await fake.invoke("dm", member=open_member)
    assert (await result.final()).content == "sent you a DM"
    assert [m.content for m in fake.dms(open_member)] == ["hello in private"]

    closed = fake.create_member(guild, "gus", dms_open=False)
    result = await fake.invoke("dm", member=closed)
    assert (await result.final()).content == "dms closed (50007)"
    assert fake.dms(closed) == []


async def test_a_modal_is_shown_and_submitted(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "hal")
    result = await fake.invoke("form", member=member)
    modal = await result.modal()
    assert modal.title == "Your name"
    assert [f.custom_id for f in modal.fields] == ["name", "note"]
    with pytest.raises(ValueError, match="at most 20"):
        await fake.submit_modal(modal, {"name": "x" * 21})
    with pytest.raises(ValueError, match="required"):
        await fake.submit_modal(modal, {"note": "only a note"})
    submitted = await fake.submit_modal(modal, {"name": "Hal", "note": "hi"})
    assert (await submitted.final()).content == "hello Hal (hi)"


async def test_buttons_update_their_message(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "ida")
    message = await (await fake.invoke("counter", member=member)).final()
    assert [b.label for b in message.buttons] == ["Add", "Off"]
    pressed = await fake.press_button(message, "Add", member=member)
    assert (await pressed.ack()).type is CallbackType.UPDATE_MESSAGE
    assert (await pressed.final()).content == "count 1"
    with pytest.raises(ValueError, match="disabled"):
        await fake.press_button(message, "probe:off", member=member)
    chosen = await fake.select(message, "probe:size", ["large"], member=member)
    assert (await chosen.final()).content == "size large"
    with pytest.raises(ValueError, match="offers"):
        await fake.select(message, "probe:size", ["huge"], member=member)


async def test_autocomplete_returns_choices(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "jo")
    choices = await fake.autocomplete("fruit", "name", "ap", member=member)
    assert [c.value for c in choices] == ["apple", "apricot"]


async def test_subcommands_resolve_members_and_roles(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    caller = fake.create_member(guild, "kim", manage_guild=True)
    target = fake.create_member(guild, "lu", nick="Lulu")
    role = await fake.create_role(guild, "Blue")
    result = await fake.invoke(
        "team add", member=caller, options={"who": target, "role": role}, locale="fr"
    )
    assert (await result.final()).content == (
        "Lulu joins Blue (caller manage_guild=True, locale=fr, app_manage=False)"
    )


async def test_default_permissions_hide_a_command(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    plain = fake.create_member(guild, "mo")
    with pytest.raises(CommandUnavailable, match="hidden from mo"):
        await fake.invoke("settings", member=plain)
    granted = await fake.invoke("settings", member=plain, permission_override=True)
    assert (await granted.final()).content == "manage_guild=False"
    admin = fake.create_member(guild, "ned", administrator=True)
    assert (
        await (await fake.invoke("settings", member=admin)).final()
    ).content == "manage_guild=True"


async def test_a_malformed_body_is_reported_with_path_and_schema_error(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "oz")
    result = await fake.invoke("malformed", member=member)
    await probe.wait_for_line("refused as expected: 400 50035", timeout=5)
    violations = fake.take_violations()
    assert violations, "the harness accepted a 2001-character message"
    first = violations[0]
    assert first.template == "/interactions/{interaction_id}/{interaction_token}/callback"
    assert any("$.data.content" in p and "at most 2000" in p for p in first.problems)
    # The followup after a refused acknowledgement is refused too, as Discord would.
    assert result.record.ack is None


async def test_a_late_acknowledgement_gets_10062(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "pia")
    fake.state.ack_deadline = 0.3
    try:
        result = await fake.invoke("slow", member=member, options={"delay": 0.5})
        with pytest.raises(AssertionError, match=r"refused.*after the interaction"):
            await result.ack(timeout=2)
        await probe.wait_for_line("late: 10062", timeout=5)
        assert result.rejections[0].code == 10062
    finally:
        fake.state.ack_deadline = 3.0


async def test_an_expired_token_cannot_edit(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "quin")
    result = await fake.invoke("think", member=member, options={"delay": 0.3})
    await result.ack()
    result.expire_token()
    await probe.wait_for_line("edit failed: 401 50027", timeout=5)
    assert (await result.original()).loading


async def test_an_injected_429_is_retried_after_retry_after(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    member = fake.create_member(guild, "ray")
    injection = fake.inject_rate_limit(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback", retry_after=0.25
    )
    result = await fake.invoke("echo", member=member, options={"text": "patient"})
    ack = await result.ack()
    assert injection.hits == 1
    assert ack.latency >= 0.25
    assert (await result.final()).content == "patient"
    statuses = [c.status for c in fake.calls("POST")[-2:]]
    assert statuses == [429, 200]


async def test_the_bot_resumes_after_a_reconnect_request(
    fake: FakeDiscord, probe: BotProcess, guild: Guild
) -> None:
    await fake.request_reconnect()
    await probe.wait_for_line("probe resumed", timeout=10)
    assert fake.gateway.resume_count == 1
    member = fake.create_member(guild, "sol")
    result = await fake.invoke("echo", member=member, options={"text": "back"})
    assert (await result.final()).content == "back"


async def test_a_guild_created_later_is_announced(fake: FakeDiscord, probe: BotProcess) -> None:
    late = await fake.create_guild("Late Server")
    member = fake.create_member(late, "tia")
    result = await fake.invoke("echo", member=member, options={"text": "new here"})
    assert (await result.final()).content == "new here"


async def test_commands_work_in_the_bots_dms(fake: FakeDiscord, probe: BotProcess) -> None:
    user = fake.create_user("dmuser")
    result = await fake.invoke("echo", user=user, options={"text": "private"})
    assert result.payload["context"] == 1
    reply = await result.final()
    assert reply.content == "private"
    assert fake.dms(user)[0].id == reply.id
