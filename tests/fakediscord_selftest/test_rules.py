"""Each rule the fake holds bodies to, beside Discord's OpenAPI description: a body that
breaks it is refused the way Discord refuses it (400, 50035 "Invalid Form Body", the
`errors` object naming the field), and the nearest body that keeps it is accepted.

Bodies go over HTTP from a raw client, as a bot would send them; interaction callbacks
answer real interactions the fake dispatched to that client's gateway session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.fakediscord import FakeDiscord, Guild
from tests.fakediscord_selftest.rawclient import BOT_AUTH, RawGateway, api, connect

pytestmark = pytest.mark.asyncio(loop_scope="module")

PING = {"name": "ping", "description": "Ping", "type": 1}
PICK = {
    "name": "pick",
    "description": "Pick a thing",
    "type": 1,
    "options": [{"type": 3, "name": "thing", "description": "A thing", "autocomplete": True}],
}


@dataclass
class Client:
    fake: FakeDiscord
    session: aiohttp.ClientSession
    gateway: RawGateway
    guild: Guild
    pending: list[asyncio.Future[Any]] = field(default_factory=list)

    async def send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.request(
            method, api(self.fake, path), json=body, headers=BOT_AUTH
        ) as response:
            json = response.content_type == "application/json"
            payload = await response.json() if json else None
            return response.status, payload

    async def interaction(self, *, autocomplete: bool = False) -> str:
        """The callback path of a fresh /ping (or /pick autocomplete) interaction."""
        member = self.fake.create_member(self.guild)
        if autocomplete:
            asking = self.fake.autocomplete("pick", "thing", "x", member=member)
            self.pending.append(asyncio.ensure_future(asking))
        else:
            await self.fake.invoke("ping", member=member)
        created = (await self.gateway.until("INTERACTION_CREATE"))["d"]
        return f"/interactions/{created['id']}/{created['token']}/callback"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(fake: FakeDiscord) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        gateway = await connect(session, fake)
        await gateway.identify()
        guild = next(iter(fake.state.guilds.values()))
        raw = Client(fake, session, gateway, guild)
        status, _ = await raw.send(
            "PUT", f"/applications/{fake.application_id}/commands", [PING, PICK]
        )
        assert status == 200
        yield raw
        for asked in raw.pending:
            with contextlib.suppress(AssertionError):
                await asked


# --- where each body goes ---------------------------------------------------------------

Target = Callable[[Client], Awaitable[tuple[str, str]]]


async def channel_message(client: Client) -> tuple[str, str]:
    return "POST", f"/channels/{client.guild.text_channel.id}/messages"


async def command_reply(client: Client) -> tuple[str, str]:
    return "POST", await client.interaction()


async def autocomplete_reply(client: Client) -> tuple[str, str]:
    return "POST", await client.interaction(autocomplete=True)


async def guild_commands(client: Client) -> tuple[str, str]:
    return "PUT", f"/applications/{client.fake.application_id}/guilds/{client.guild.id}/commands"


# --- bodies -----------------------------------------------------------------------------


def button(custom_id: str) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": custom_id, "custom_id": custom_id}


def rows(count: int) -> list[dict[str, Any]]:
    return [{"type": 1, "components": [button(f"b{n}")]} for n in range(count)]


def text_input(custom_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": 18,
        "label": custom_id,
        "component": {"type": 4, "custom_id": custom_id, "style": 1, **extra},
    }


def button_rows(count: int, buttons: int) -> list[dict[str, Any]]:
    """`count` action rows of `buttons` buttons: count * (1 + buttons) components."""
    return [
        {"type": 1, "components": [button(f"r{r}b{b}") for b in range(buttons)]}
        for r in range(count)
    ]


def modal(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": 9, "data": {"custom_id": "m", "title": "Form", "components": inputs}}


def reply(**data: Any) -> dict[str, Any]:
    return {"type": 4, "data": data}


def choices(value: str, name: str = "choice") -> dict[str, Any]:
    return {"type": 8, "data": {"choices": [{"name": name, "value": value}]}}


def command(name: str = "thing", description: str = "Does a thing", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "type": 1, **extra}


def option(name: str, *, required: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": "An option", "required": required, **extra}


def big_options(choice_length: int) -> list[dict[str, Any]]:
    """Two options of 25 choices, each choice's name and value `choice_length` long:
    7,922 characters with the options' names and descriptions at 79."""
    return [
        option(
            f"o{n}",
            choices=[
                {"name": f"{n}{c:02}".ljust(choice_length, "n"), "value": "v" * choice_length}
                for c in range(25)
            ],
        )
        for n in range(2)
    ]


def embed_with(total: int) -> list[dict[str, Any]]:
    """Two embeds of `total` characters together, each part within its own limit."""
    first = min(total, 4096)
    return [{"description": "d" * first}, {"description": "e" * (total - first)}]


@dataclass(frozen=True)
class Rule:
    name: str
    target: Target
    bad: Any
    good: Any
    where: tuple[str, ...]  # the path in `errors` that holds the complaint


RULES = [
    # Beyond the description: fields it does not document, links it does not check.
    Rule(
        "unknown field",
        channel_message,
        {"content": "hi", "allowed_mention": {"parse": []}},
        {"content": "hi", "allowed_mentions": {"parse": []}},
        ("allowed_mention",),
    ),
    Rule(
        "malformed link",
        channel_message,
        {"embeds": [{"title": "t", "url": "https://exa mple.org/a b"}]},
        {"embeds": [{"title": "t", "url": "https://example.org/a%20b"}]},
        ("embeds", "0", "url"),
    ),
    Rule(
        "link without a host",
        channel_message,
        {"embeds": [{"title": "t", "thumbnail": {"url": "https://"}}]},
        {"embeds": [{"title": "t", "thumbnail": {"url": "attachment://face.png"}}]},
        ("embeds", "0", "thumbnail", "url"),
    ),
    # Message Resource > Create Message.
    Rule(
        "content over 2,000",
        channel_message,
        {"content": "x" * 2001},
        {"content": "x" * 2000},
        ("content",),
    ),
    Rule(
        "ephemeral channel message",
        channel_message,
        {"content": "hi", "flags": 64},
        {"content": "hi", "flags": 4},
        ("flags",),
    ),
    Rule(
        "allowed_mentions parse and users",
        channel_message,
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1234"]}},
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": []}},
        ("allowed_mentions",),
    ),
    Rule(
        "allowed_mentions parse and roles",
        channel_message,
        {"content": "hi", "allowed_mentions": {"parse": ["roles"], "roles": ["1234"]}},
        {"content": "hi", "allowed_mentions": {"roles": ["1234"]}},
        ("allowed_mentions",),
    ),
    # Message Resource > Embed Limits and Embed Field Structure.
    Rule(
        "embed title over 256",
        channel_message,
        {"embeds": [{"title": "t" * 257}]},
        {"embeds": [{"title": "t" * 256}]},
        ("embeds", "0", "title"),
    ),
    Rule(
        "embed description over 4,096",
        channel_message,
        {"embeds": [{"description": "d" * 4097}]},
        {"embeds": [{"description": "d" * 4096}]},
        ("embeds", "0", "description"),
    ),
    Rule(
        "embed field name over 256",
        channel_message,
        {"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]},
        {"embeds": [{"fields": [{"name": "n" * 256, "value": "v"}]}]},
        ("embeds", "0", "fields", "0", "name"),
    ),
    Rule(
        "embed field value over 1,024",
        channel_message,
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1024}]}]},
        ("embeds", "0", "fields", "0", "value"),
    ),
    Rule(
        "embed footer over 2,048",
        channel_message,
        {"embeds": [{"footer": {"text": "f" * 2049}}]},
        {"embeds": [{"footer": {"text": "f" * 2048}}]},
        ("embeds", "0", "footer", "text"),
    ),
    Rule(
        "embed author over 256",
        channel_message,
        {"embeds": [{"author": {"name": "a" * 257}}]},
        {"embeds": [{"author": {"name": "a" * 256}}]},
        ("embeds", "0", "author", "name"),
    ),
    Rule(
        "more than 25 fields",
        channel_message,
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 25}]},
        ("embeds", "0", "fields"),
    ),
    Rule(
        "more than 10 embeds",
        channel_message,
        {"embeds": [{"title": "t"}] * 11},
        {"embeds": [{"title": "t"}] * 10},
        ("embeds",),
    ),
    Rule(
        "6,000 characters across embeds",
        channel_message,
        {"embeds": embed_with(6001)},
        {"embeds": embed_with(6000)},
        ("embeds",),
    ),
    Rule(
        "leading and trailing spaces do not count",
        channel_message,
        {"embeds": [{"description": "d" * 4096}, {"description": "e" * 1905}]},
        {"embeds": [{"description": "d" * 4096}, {"description": "   " + "e" * 1904 + " "}]},
        ("embeds",),
    ),
    Rule(
        "empty embed field name",
        channel_message,
        {"embeds": [{"fields": [{"name": "", "value": "v"}]}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v"}]}]},
        ("embeds", "0", "fields", "0", "name"),
    ),
    Rule(
        "blank embed field value",
        channel_message,
        {"embeds": [{"fields": [{"name": "n", "value": "  "}]}]},
        {"embeds": [{"fields": [{"name": "n", "value": "\u200b"}]}]},
        ("embeds", "0", "fields", "0", "value"),
    ),
    # Components.
    Rule(
        "more than 5 action rows",
        channel_message,
        {"content": "hi", "components": rows(6)},
        {"content": "hi", "components": rows(5)},
        ("components",),
    ),
    Rule(
        "more than 40 components in a v2 message",
        channel_message,
        {"flags": 1 << 15, "components": button_rows(9, 4)},  # 45 in all, 9 at the top
        {"flags": 1 << 15, "components": button_rows(8, 4)},
        ("components",),
    ),
    Rule(
        "duplicate custom_id",
        channel_message,
        {"content": "hi", "components": [{"type": 1, "components": [button("a"), button("a")]}]},
        {"content": "hi", "components": [{"type": 1, "components": [button("a"), button("b")]}]},
        ("components", "0", "components", "1", "custom_id"),
    ),
    Rule(
        "duplicate custom_id in a reply",
        command_reply,
        reply(content="hi", components=[*rows(1), *rows(1)]),
        reply(content="hi", components=rows(2)),
        ("data", "components", "1", "components", "0", "custom_id"),
    ),
    Rule(
        "modal of more than 5 components",
        command_reply,
        modal([text_input(f"t{n}") for n in range(6)]),
        modal([text_input(f"t{n}") for n in range(5)]),
        ("data", "components"),
    ),
    Rule(
        "text input value past its max_length",
        command_reply,
        modal([text_input("name", max_length=5, value="Miaaaa")]),
        modal([text_input("name", max_length=5, value="Miaaa")]),
        ("data", "components", "0", "component", "value"),
    ),
    # Application Commands > Application Command Option Choice Structure.
    Rule(
        "autocomplete choice value over 100",
        autocomplete_reply,
        choices("v" * 101),
        choices("v" * 100),
        ("data", "choices", "0", "value"),
    ),
    Rule(
        "autocomplete choice name over 100",
        autocomplete_reply,
        choices("v", name="n" * 101),
        choices("v", name="n" * 100),
        ("data", "choices", "0", "name"),
    ),
    Rule(
        "option choice value over 100",
        guild_commands,
        [command(options=[option("o", choices=[{"name": "c", "value": "v" * 101}])])],
        [command(options=[option("o", choices=[{"name": "c", "value": "v" * 100}])])],
        ("0", "options", "0", "choices", "0", "value"),
    ),
    # Application Commands > Application Command Naming and Option Structure.
    Rule(
        "command name failing Discord's regex",
        guild_commands,
        [command("two words")],
        [command("नमस्ते-สวัสดี_ça")],
        ("0", "name"),
    ),
    Rule(
        "command name not lowercase",
        guild_commands,
        [command("Thing")],
        [command("thing")],
        ("0", "name"),
    ),
    Rule(
        "option name not lowercase",
        guild_commands,
        [command(options=[option("Colour")])],
        [command(options=[option("colour")])],
        ("0", "options", "0", "name"),
    ),
    Rule(
        "empty command description",
        guild_commands,
        [command(description="")],
        [command(description="d")],
        ("0", "description"),
    ),
    Rule(
        "required option after an optional one",
        guild_commands,
        [command(options=[option("a"), option("b", required=True)])],
        [command(options=[option("b", required=True), option("a")])],
        ("0", "options", "1", "required"),
    ),
    Rule(
        "duplicate option names",
        guild_commands,
        [command(options=[option("a"), option("a")])],
        [command(options=[option("a"), option("b")])],
        ("0", "options"),
    ),
    Rule(
        "more than 8,000 characters in one command",
        guild_commands,
        [command("big", "d" * 76, options=big_options(79))],  # 3 + 76 + 7,922 = 8,001
        [command("big", "d" * 75, options=big_options(79))],
        ("0",),
    ),
    # Application Commands > Registering a Command.
    Rule(
        "more than 100 slash commands",
        guild_commands,
        [command(f"c{n}") for n in range(101)],
        [command(f"c{n}") for n in range(100)],
        (),
    ),
    Rule(
        "two commands of one name",
        guild_commands,
        [command("same"), command("same")],
        [command("same"), command("same", type=2, description="")],
        (),
    ),
]


def _at(errors: dict[str, Any], where: tuple[str, ...]) -> Any:
    for key in where:
        assert key in errors, f"no errors at {key!r} in {errors}"
        errors = errors[key]
    return errors["_errors"]


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
async def test_a_body_breaking_the_rule_is_refused_and_one_keeping_it_is_accepted(
    fake: FakeDiscord, client: Client, rule: Rule
) -> None:
    method, path = await rule.target(client)
    status, refused = await client.send(method, path, rule.bad)
    assert status == 400, refused
    assert (refused["code"], refused["message"]) == (50035, "Invalid Form Body")
    assert all({"code", "message"} <= set(error) for error in _at(refused["errors"], rule.where))
    assert [v.template for v in fake.take_violations()] != []

    status, accepted = await client.send(method, path, rule.good)
    assert status in (200, 201, 204), accepted
    assert fake.take_violations() == []


async def test_the_size_of_a_command_counts_its_longest_localizations(client: Client) -> None:
    method, path = await guild_commands(client)
    long = {"fr": "d" * 100, "de": "d" * 10}
    ok = command(options=big_options(75)[:1])
    heavy = {**ok, "description_localizations": long, "name_localizations": {"fr": "x" * 32}}
    assert (await client.send(method, path, [heavy]))[0] == 200
    # 7,926 characters as written; 8,108 counting each option's longest description.
    over = command(
        "big",
        options=[{**o, "description_localizations": long} for o in big_options(79)],
        description="d",
    )
    assert (await client.send(method, path, [{**over, "options": big_options(79)}]))[0] == 200
    status, refused = await client.send(method, path, [over])
    assert status == 400
    assert refused["errors"]["0"]["_errors"][0]["code"] == "APPLICATION_COMMAND_TOO_LARGE"
    client.fake.take_violations()


async def test_the_101st_command_created_alone_gets_30032(client: Client) -> None:
    method, path = await guild_commands(client)
    assert (await client.send(method, path, [command(f"c{n}") for n in range(100)]))[0] == 200
    status, body = await client.send("POST", path, command("c0", "replaced, not added"))
    assert status == 200, body
    status, body = await client.send("POST", path, command("c100"))
    assert (status, body) == (
        400,
        {"message": "Maximum number of application commands reached (100)", "code": 30032},
    )
    assert (await client.send(method, path, []))[0] == 200


async def test_an_edited_command_is_held_to_the_same_rules(client: Client) -> None:
    _, path = await guild_commands(client)
    status, created = await client.send("POST", path, command("editable"))
    assert status in (200, 201), created
    edit = f"{path}/{created['id']}"
    status, refused = await client.send("PATCH", edit, {"name": "Not Valid"})
    assert status == 400
    assert refused["errors"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    client.fake.take_violations()
    assert (await client.send("PATCH", edit, {"description": "Still fine"}))[0] == 200
    assert (await client.send("PUT", path, []))[0] == 200


async def test_user_and_message_commands_may_be_mixed_case(client: Client) -> None:
    method, path = await guild_commands(client)
    menus = [command("Show Profile", "", type=2), command("Quote This", "", type=3)]
    assert (await client.send(method, path, menus))[0] == 200


async def test_an_empty_message_gets_50006(client: Client) -> None:
    method, path = await channel_message(client)
    status, body = await client.send(method, path, {"content": ""})
    assert (status, body) == (400, {"message": "Cannot send an empty message", "code": 50006})
    client.fake.take_violations()
