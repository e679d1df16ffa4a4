"""What Discord accepts in a message, and how the bot's replies are made to fit it.

Discord refuses a whole message when one part of it breaks a limit (its developer docs:
"Message Resource > Embed Limits", "Create Message > JSON Params", "Application Commands >
Application Command Option Choice Structure"), and the member then reads "The application
did not respond" or an incident id instead of the answer. So:

- every embed the bot sends is fitted when discord.py serialises it (`fit_embed`, used by
  `bot.ui.embeds.FittedEmbed`), however a cog filled it in;
- text echoed from a member or from Runway goes through `plain`: escaped and cut, never
  quoted whole;
- a list that may grow is paged by its cog (`page_of`) or joined with `fit_lines`, which
  says how many lines it left out;
- autocomplete answers go through `choices`;
- text on a component (a modal's title, a button's label, a select option's) is cut to
  its own limit ("Message Components" and "Interactions > Modal" in Discord's docs), with
  `fill` where a member's or Runway's text is part of it.

Lengths count code points after trimming the ends, as Discord counts them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import discord
from discord import app_commands

from bot.clip import clip

TITLE: Final = 256
DESCRIPTION: Final = 4096
FIELDS: Final = 25
FIELD_NAME: Final = 256
FIELD_VALUE: Final = 1024
FOOTER: Final = 2048
AUTHOR: Final = 256
EMBED_TOTAL: Final = 6000  # across all the embeds of one message
CONTENT: Final = 2000
URL: Final = 2048
CHOICE: Final = 100  # an autocomplete choice's name, and its value
CHOICES: Final = 25
MODAL_TITLE: Final = 45
BUTTON_LABEL: Final = 80
BUTTON_URL: Final = 512  # a link button's url; Discord's OpenAPI (ButtonComponentForMessageRequest)
OPTION_TEXT: Final = 100  # a select option's label, and its description
ECHO: Final = 256  # what the bot quotes of a member's or Runway's text, unless told otherwise
BLANK: Final = "\u200b"  # shown for an empty field name or value, which Discord refuses

_MEDIA: Final = ("image", "thumbnail")


def plain(text: str, *, limit: int = ECHO) -> str:
    """Text a member or Runway wrote, as it should read in a reply: shown as typed (no
    markdown, no mentions; backslashes are escaped too) and cut to `limit` with an
    ellipsis that never splits an escape."""
    return clip(discord.utils.escape_markdown(discord.utils.escape_mentions(text)), limit)


def fill(template: str, text: str, limit: int) -> str:
    """`template` with `text` in place of its `{}`, the text cut so that the whole fits in
    `limit`: the words around a long name ("Edit {}", "{} says…") are kept whole."""
    room = limit - (len(template) - len("{}"))
    return clip(template.format(clip(text, max(room, 0))), limit)


def fit_lines(items: Sequence[str], limit: int, *, more: str = "… and {count} more") -> str:
    """As many whole lines as fit in `limit`, then a line saying how many were left out."""
    kept: list[str] = []
    for line in items:
        rest = len(items) - len(kept) - 1
        tail = [more.format(count=rest)] if rest else []
        if len("\n".join([*kept, line, *tail])) > limit:
            break
        kept.append(line)
    else:
        return "\n".join(kept)
    if not kept:  # not even the first line fits whole: show its beginning
        rest = len(items) - 1
        tail = [more.format(count=rest)] if rest else []
        return "\n".join([clip(items[0], limit - sum(len(t) + 1 for t in tail)), *tail])
    return "\n".join([*kept, more.format(count=len(items) - len(kept))])


def page_of(items: Sequence[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    """The items on `page` (clamped to the pages there are), that page, and the page count."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 0), pages - 1)
    return list(items[page * per_page : (page + 1) * per_page]), page, pages


def choices(options: Iterable[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    """Autocomplete choices Discord accepts: at most 25, names cut to 100 characters.

    A value cannot be cut (the member would pick something else), so a value over 100
    characters, which can only be an echo of something typed, is not offered at all.
    """
    found = [
        app_commands.Choice(name=clip(name.strip(), CHOICE) or BLANK, value=value)
        for name, value in options
        if 0 < len(value) <= CHOICE
    ]
    return found[:CHOICES]


def web_url(url: str | None) -> bool:
    """Whether Discord takes `url` as a link in an embed: well formed, http(s), not too long."""
    if not url or len(url) > URL or any(char.isspace() or ord(char) < 32 for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def fit_embed(data: dict[str, Any], budget: int = EMBED_TOTAL) -> dict[str, Any]:
    """`data` (an embed as Discord takes it) cut to Discord's limits and to `budget`
    characters in all: each part trimmed with an ellipsis, fields past the limit or the
    budget replaced by one saying how many more there were, malformed links dropped."""
    fitted = copy.deepcopy(data)
    _cut(fitted, "title", TITLE)
    _cut(fitted, "description", DESCRIPTION)
    _cut(fitted.get("footer"), "text", FOOTER)
    _cut(fitted.get("author"), "name", AUTHOR)
    fields = [
        {
            **item,
            "name": clip(str(item.get("name") or "").strip(), FIELD_NAME) or BLANK,
            "value": clip(str(item.get("value") or "").strip(), FIELD_VALUE) or BLANK,
        }
        for item in fitted.get("fields") or []
    ]
    _drop_bad_links(fitted)
    if fields:
        fitted["fields"] = _fields_within(fitted, fields, budget)
    for part, key in ((fitted, "description"), (fitted.get("footer"), "text"), (fitted, "title")):
        excess = embed_length(fitted) - budget
        if excess > 0 and part and part.get(key):
            _cut(part, key, max(0, len(part[key]) - excess))
    return fitted


def embed_length(data: dict[str, Any]) -> int:
    """What Discord counts towards the 6,000 characters of a message's embeds."""
    parts = [
        data.get("title"),
        data.get("description"),
        (data.get("footer") or {}).get("text"),
        (data.get("author") or {}).get("name"),
    ]
    for item in data.get("fields") or []:
        parts.extend((item.get("name"), item.get("value")))
    return sum(len(str(part).strip()) for part in parts if part)


def _cut(part: dict[str, Any] | None, key: str, limit: int) -> None:
    if not part or part.get(key) is None:
        return
    text = clip(str(part[key]).strip(), limit)
    if text:
        part[key] = text
    else:
        del part[key]


def _fields_within(
    data: dict[str, Any], fields: list[dict[str, Any]], budget: int
) -> list[dict[str, Any]]:
    """The fields that fit in the field limit and the budget, then a note of the rest."""
    kept = fields[:FIELDS]
    while kept:
        left_out = len(fields) - len(kept)
        shown = kept + ([_more(left_out)] if left_out else [])
        if len(shown) <= FIELDS and embed_length({**data, "fields": shown}) <= budget:
            return shown
        kept = kept[:-1]
    note = [_more(len(fields))]
    return note if embed_length({**data, "fields": note}) <= budget else []


def _more(count: int) -> dict[str, Any]:
    return {"name": "…", "value": f"and {count} more not shown", "inline": False}


def _drop_bad_links(data: dict[str, Any]) -> None:
    """Discord refuses a malformed link; only http(s) links, and for pictures also files
    uploaded with the message ("Message Resource > Embed Object")."""
    if data.get("url") is not None and not web_url(data["url"]):
        del data["url"]
    for key in _MEDIA:
        media = data.get(key)
        if media and not _picture(media.get("url")):
            del data[key]
    for key, link in (("author", "url"), ("author", "icon_url"), ("footer", "icon_url")):
        part = data.get(key)
        if part and part.get(link) is not None:
            usable = web_url(part[link]) if link == "url" else _picture(part[link])
            if not usable:
                del part[link]


def _picture(url: str | None) -> bool:
    """An http(s) link, or a file uploaded with the message itself (`attachment://a.png`)."""
    if url and url.startswith("attachment://"):
        return len(url) > len("attachment://") and not any(c.isspace() for c in url)
    return web_url(url)
