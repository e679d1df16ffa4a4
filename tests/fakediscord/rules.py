"""Discord's documented rules that its OpenAPI description does not express.

Discord's description is looser than Discord: it allows 4,000 characters of content on a
channel message, 6,000 for an autocomplete choice's value, any command name, and nothing
in it can say "required options first" or "6,000 characters across all embeds". Real
Discord refuses such bodies with 400 / 50035 "Invalid Form Body", so the fake does too:
each check below names the page of Discord's developer docs (docs.discord.com/developers)
it comes from. Lengths count code points after trimming the ends, as Discord does
("Message Resource > Embed Limits": leading and trailing whitespace is not included).

The rest of "Message Resource > Embed Limits" (title 256, description 4,096, field name
256 and value 1,024, footer 2,048, author 256, 25 fields) and "up to 10 embeds" are in the
description itself and checked with it (openapi.py), as are unknown fields and links.

Error codes follow Discord's naming where its docs show one (APPLICATION_COMMAND_TOO_LARGE,
BASE_TYPE_REQUIRED, BASE_TYPE_MAX_LENGTH); the others are the fake's best likeness.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import regex

from tests.fakediscord.problems import PathPart, Problem

Json = Mapping[str, Any]
Path = tuple[PathPart, ...]

CALLBACK: Final = "/interactions/{interaction_id}/{interaction_token}/callback"
CHANNEL_MESSAGES: Final = "/channels/{channel_id}/messages"
CHANNEL_MESSAGE: Final = "/channels/{channel_id}/messages/{message_id}"
WEBHOOK: Final = "/webhooks/{webhook_id}/{webhook_token}"
WEBHOOK_MESSAGES: Final = (
    "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
)
COMMAND_LISTS: Final = (
    "/applications/{application_id}/commands",
    "/applications/{application_id}/guilds/{guild_id}/commands",
)
COMMANDS: Final = (
    "/applications/{application_id}/commands/{command_id}",
    "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
)

# Message flags ("Message Resource > Message Object > Message Flags").
SUPPRESS_EMBEDS: Final = 1 << 2
EPHEMERAL: Final = 1 << 6
SUPPRESS_NOTIFICATIONS: Final = 1 << 12
IS_VOICE_MESSAGE: Final = 1 << 13
IS_COMPONENTS_V2: Final = 1 << 15

CONTENT_MAX: Final = 2000
EMBED_TOTAL_MAX: Final = 6000
LEGACY_ROWS_MAX: Final = 5
V2_COMPONENTS_MAX: Final = 40
MODAL_COMPONENTS_MAX: Final = 5
CHOICE_VALUE_MAX: Final = 100
COMMAND_SIZE_MAX: Final = 8000
CHAT_INPUT, USER, MESSAGE = 1, 2, 3
COMMANDS_MAX: Final = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
SUBCOMMAND, GROUP, STRING = 1, 2, 3
TEXT_INPUT = 4

# "Application Commands > Application Command Object > Application Command Naming", as
# written there (the `regex` module knows the script classes Python's `re` lacks).
COMMAND_NAME: Final = regex.compile(r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")


def request_problems(method: str, template: str, body: Any) -> list[Problem]:
    """Everything in `body` that Discord would refuse on `method template`, beyond the
    OpenAPI description. Routes without such rules pass."""
    if method == "PUT" and template in COMMAND_LISTS:
        return list(_command_list(body))
    if not isinstance(body, Mapping):
        return []
    if template == CALLBACK:
        return list(_callback(body))
    if template == CHANNEL_MESSAGES and method == "POST":
        return list(_message(body, (), channel_flags=CREATE_FLAGS))
    if template == CHANNEL_MESSAGE and method == "PATCH":
        return list(_message(body, (), channel_flags=EDIT_FLAGS))
    if (template == WEBHOOK and method == "POST") or template in WEBHOOK_MESSAGES:
        return list(_message(body, (), channel_flags=None))
    if template in COMMAND_LISTS and method == "POST":
        return list(_command(body, ()))
    if template in COMMANDS and method == "PATCH":
        return list(_command(body, (), partial=True))
    return []


def is_empty_message(method: str, template: str, body: Any, uploads: int) -> bool:
    """A new message with nothing in it ("Create Message": at least one of `content`,
    `embeds`, `sticker_ids`, `components`, `files[n]` or `poll` is required; Discord
    answers 50006 "Cannot send an empty message")."""
    if not isinstance(body, Mapping):
        return False
    if template == CALLBACK:
        if int(body.get("type") or 0) != 4:
            return False
        body = body.get("data") or {}
    elif not (method == "POST" and template in (CHANNEL_MESSAGES, WEBHOOK)):
        return False
    return not (
        body.get("content")
        or body.get("embeds")
        or uploads
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
    )


# --- messages ---------------------------------------------------------------------------

# "Message Resource > Create Message > JSON/Form Params": flags, "only SUPPRESS_EMBEDS,
# SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE, and IS_COMPONENTS_V2 can be set"; "Edit
# Message": "SUPPRESS_EMBEDS and IS_COMPONENTS_V2 only". EPHEMERAL belongs to interaction
# replies alone.
CREATE_FLAGS: Final = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_VOICE_MESSAGE | IS_COMPONENTS_V2
EDIT_FLAGS: Final = SUPPRESS_EMBEDS | IS_COMPONENTS_V2


def _message(body: Json, at: Path, *, channel_flags: int | None) -> Iterator[Problem]:
    content = body.get("content")
    # "Message Resource > Create Message > JSON/Form Params": content "up to 2000
    # characters" (the description allows 4,000 on channel routes; 2,000 elsewhere).
    channel = channel_flags is not None
    if channel and isinstance(content, str) and len(content) > CONTENT_MAX:
        yield Problem(
            (*at, "content"),
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {CONTENT_MAX} or fewer in length ({len(content)} given).",
        )
    flags = body.get("flags")
    if channel and isinstance(flags, int) and flags & ~channel_flags:
        names = ", ".join(_flag_names(flags & ~channel_flags))
        yield Problem(
            (*at, "flags"),
            "MESSAGE_FLAGS_INVALID",
            f"A channel message cannot set the flag(s) {names}.",
        )
    yield from _embeds(body.get("embeds") or [], (*at, "embeds"))
    yield from _allowed_mentions(body.get("allowed_mentions"), (*at, "allowed_mentions"))
    v2 = isinstance(flags, int) and bool(flags & IS_COMPONENTS_V2)
    yield from _message_components(body.get("components") or [], (*at, "components"), v2=v2)


def _flag_names(flags: int) -> list[str]:
    known = {
        EPHEMERAL: "EPHEMERAL",
        1 << 7: "LOADING",
        SUPPRESS_NOTIFICATIONS: "SUPPRESS_NOTIFICATIONS",
        IS_VOICE_MESSAGE: "IS_VOICE_MESSAGE",
    }
    return [known.get(1 << bit, str(1 << bit)) for bit in range(32) if flags & (1 << bit)]


def _embeds(embeds: Sequence[Any], at: Path) -> Iterator[Problem]:
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, Mapping):
            continue
        total += sum(len(text.strip()) for text in _embed_texts(embed))
        # "Message Resource > Embed Object > Embed Field Structure": a field's name and
        # value are required; Discord trims them, and an empty one is missing.
        for number, item in enumerate(embed.get("fields") or []):
            for key in ("name", "value"):
                text = item.get(key) if isinstance(item, Mapping) else None
                if isinstance(text, str) and not text.strip():  # a missing one: the schema
                    yield Problem(
                        (*at, index, "fields", number, key),
                        "BASE_TYPE_REQUIRED",
                        "This field is required (an embed field's name and value may not be "
                        "empty or blank)",
                    )
    # "Message Resource > Embed Object > Embed Limits": "the combined sum of characters in
    # all title, description, field.name, field.value, footer.text, and author.name fields
    # across all embeds attached to a message must not exceed 6000 characters".
    if total > EMBED_TOTAL_MAX:
        yield Problem(
            at,
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX} ({total} characters "
            "across the message's embeds)",
        )


def _embed_texts(embed: Json) -> Iterator[str]:
    for key in ("title", "description"):
        if isinstance(embed.get(key), str):
            yield embed[key]
    for part, key in (("footer", "text"), ("author", "name")):
        value = (embed.get(part) or {}).get(key)
        if isinstance(value, str):
            yield value
    for item in embed.get("fields") or []:
        if isinstance(item, Mapping):
            yield from (item[key] for key in ("name", "value") if isinstance(item.get(key), str))


def _allowed_mentions(mentions: Any, at: Path) -> Iterator[Problem]:
    """ "Message Resource > Allowed Mentions Object": `parse` is mutually exclusive with
    `users` and with `roles`; "users" in `parse` together with a `users` list (likewise
    roles) causes a validation error. An empty or null list does not."""
    if not isinstance(mentions, Mapping):
        return
    parse = mentions.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and mentions.get(kind):
            yield Problem(
                at,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse: ["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def _message_components(components: Sequence[Any], at: Path, *, v2: bool) -> Iterator[Problem]:
    if v2:
        # "Components > Component Reference": "Messages allow up to 40 total components".
        count = sum(1 for _ in _walk(components, at))
        if count > V2_COMPONENTS_MAX:
            yield Problem(
                at,
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {V2_COMPONENTS_MAX} or fewer in length ({count} components).",
            )
    elif len(components) > LEGACY_ROWS_MAX:
        # "Components > Legacy Message Component Behavior": "Legacy messages allow up to 5
        # action rows as top-level components".
        yield Problem(
            at,
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {LEGACY_ROWS_MAX} or fewer in length ({len(components)} action rows).",
        )
    yield from _unique_custom_ids(components, at)


def _unique_custom_ids(components: Sequence[Any], at: Path) -> Iterator[Problem]:
    """ "Components > Anatomy of a Component": `custom_id` "must be unique per component.
    Multiple components on the same message must not share the same custom_id" (a modal
    likewise)."""
    seen: set[str] = set()
    for path, component in _walk(components, at):
        custom_id = component.get("custom_id")
        if isinstance(custom_id, str):
            if custom_id in seen:
                yield Problem(
                    (*path, "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    f"Component custom id cannot be duplicated ({custom_id!r}).",
                )
            seen.add(custom_id)


def _walk(components: Sequence[Any], at: Path) -> Iterator[tuple[Path, Json]]:
    """Every component in a tree of rows, containers, sections and labels, with its path."""
    for index, component in enumerate(components):
        if not isinstance(component, Mapping):
            continue
        path = (*at, index)
        yield path, component
        yield from _walk(component.get("components") or [], (*path, "components"))
        for key in ("component", "accessory"):
            child = component.get(key)
            if isinstance(child, Mapping):
                yield (*path, key), child
                yield from _walk(child.get("components") or [], (*path, key, "components"))


# --- interaction callbacks --------------------------------------------------------------


def _callback(body: Json) -> Iterator[Problem]:
    kind = body.get("type")
    data = body.get("data")
    if not isinstance(data, Mapping):
        return
    if kind in (4, 7):  # CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE
        yield from _message(data, ("data",), channel_flags=None)
    elif kind == 8:  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
        yield from _choices(data.get("choices") or [], ("data", "choices"))
    elif kind == 9:  # MODAL
        yield from _modal(data, ("data",))


def _choices(choices: Sequence[Any], at: Path) -> Iterator[Problem]:
    """ "Application Commands > Application Command Option Choice Structure": value "up to
    100 characters if string" (the description allows 6,000; names it limits itself)."""
    for index, choice in enumerate(choices):
        value = choice.get("value") if isinstance(choice, Mapping) else None
        if isinstance(value, str) and len(value) > CHOICE_VALUE_MAX:
            yield Problem(
                (*at, index, "value"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {CHOICE_VALUE_MAX} or fewer in length ({len(value)} given).",
            )


def _modal(data: Json, at: Path) -> Iterator[Problem]:
    components = data.get("components") or []
    # "Interactions > Receiving and Responding > Modal": components, "Between 1 and 5
    # (inclusive) components that make up the modal" (the description allows 40).
    if len(components) > MODAL_COMPONENTS_MAX:
        yield Problem(
            (*at, "components"),
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {MODAL_COMPONENTS_MAX} in length ({len(components)} given).",
        )
    yield from _unique_custom_ids(components, (*at, "components"))
    # "Components > Text Input > Text Input Structure": `value` pre-fills the input, whose
    # `max_length` bounds what it may hold; Discord refuses a longer pre-filled value.
    for path, component in _walk(components, (*at, "components")):
        if component.get("type") != TEXT_INPUT:
            continue
        value, most = component.get("value"), component.get("max_length")
        if isinstance(value, str) and isinstance(most, int) and len(value) > most:
            yield Problem(
                (*path, "value"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {most} or fewer in length ({len(value)} given, over its max_length).",
            )


# --- application commands ---------------------------------------------------------------


def _command_list(definitions: Any) -> Iterator[Problem]:
    if not isinstance(definitions, Sequence):
        return
    for index, definition in enumerate(definitions):
        if isinstance(definition, Mapping):
            yield from _command(definition, (index,))
    kinds = Counter(
        (int(d.get("type") or CHAT_INPUT), str(d.get("name")))
        for d in definitions
        if isinstance(d, Mapping)
    )
    # "Application Commands > Registering a Command": "100 global CHAT_INPUT commands, 15
    # global USER commands, 15 global MESSAGE commands", "the same amount of guild-specific
    # commands per guild"; names "must be unique per application, per type, and within
    # each scope".
    for kind, most in COMMANDS_MAX.items():
        count = sum(n for (k, _), n in kinds.items() if k == kind)
        if count > most:
            yield Problem(
                (),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {most} or fewer in length ({count} commands of type {kind}).",
            )
    for (kind, name), count in kinds.items():
        if count > 1:
            yield Problem(
                (),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({name!r} of type {kind} given "
                f"{count} times).",
            )


def _command(definition: Json, at: Path, *, partial: bool = False) -> Iterator[Problem]:
    """One command as created, or (`partial`) the fields an edit changes."""
    if int(definition.get("type") or CHAT_INPUT) != CHAT_INPUT:
        return  # USER and MESSAGE commands may be mixed case, with spaces, undescribed
    if "name" in definition or not partial:
        yield from _name(definition.get("name"), (*at, "name"))
    if "description" in definition or not partial:
        # "Application Command Object": description "1-100 characters" for CHAT_INPUT.
        description = definition.get("description")
        if not isinstance(description, str) or not description.strip():
            yield Problem(
                (*at, "description"),
                "BASE_TYPE_REQUIRED",
                "This field is required (a slash command needs a description).",
            )
    yield from _options(definition.get("options") or [], (*at, "options"))
    # "Application Commands > Slash Commands": "a maximum of 8000 characters for combined
    # name, description, and value properties for each command, its options (including
    # subcommands and groups), and choices"; only the longest localization of each counts.
    size = _size(definition)
    if size > COMMAND_SIZE_MAX:
        yield Problem(
            at,
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({COMMAND_SIZE_MAX}): {size} characters",
        )


def _name(name: Any, at: Path) -> Iterator[Problem]:
    """ "Application Command Naming": names "must match the following regex ... If there is
    a lowercase variant of any letters used, you must use those"."""
    if not isinstance(name, str) or not COMMAND_NAME.match(name):
        yield Problem(at, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    elif name != name.lower():
        yield Problem(
            at,
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name must be lowercase where a letter has a lowercase form: {name!r}",
        )


def _options(options: Sequence[Any], at: Path) -> Iterator[Problem]:
    optional_seen = False
    names: Counter[str] = Counter()
    for index, option in enumerate(options):
        if not isinstance(option, Mapping):
            continue
        path = (*at, index)
        yield from _name(option.get("name"), (*path, "name"))
        names[str(option.get("name"))] += 1
        kind = int(option.get("type") or 0)
        if kind in (SUBCOMMAND, GROUP):
            yield from _options(option.get("options") or [], (*path, "options"))
            continue
        # "Application Command Option Structure": "Required options must be listed before
        # optional options".
        if option.get("required"):
            if optional_seen:
                yield Problem(
                    (*path, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        if kind == STRING:
            yield from _choices(option.get("choices") or [], (*path, "choices"))
    # Same page: "name must be unique within an array of application command options".
    for name, count in names.items():
        if count > 1:
            yield Problem(
                at,
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                f"Option names must be unique ({name!r} given {count} times)",
            )


def _size(node: Json) -> int:
    """Name, description and value of a command, option or choice, and of those under it,
    each counted at its longest localization."""
    total = 0
    for key in ("name", "description"):
        texts = [node.get(key), *(node.get(f"{key}_localizations") or {}).values()]
        total += max((len(text) for text in texts if isinstance(text, str)), default=0)
    if "value" in node and node["value"] is not None:
        total += len(str(node["value"]))
    for child in [*(node.get("options") or []), *(node.get("choices") or [])]:
        if isinstance(child, Mapping):
            total += _size(child)
    return total
