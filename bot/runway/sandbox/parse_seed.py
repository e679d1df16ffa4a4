"""Seed dialect: requests checked against the seed description, which states few limits.

Only what the seed file says is enforced (required fields, types, `documentIds` at most
50, `maxSessionDurationSeconds` at most 300), so a client written to it is not held to
production's stricter rules by accident.
"""

from __future__ import annotations

import re
from typing import Final

from bot.runway import catalog
from bot.runway.sandbox.checks import Checker
from bot.runway.sandbox.inputs import AvatarInput, DocumentInput, SessionInput, Voice
from bot.runway.sandbox.parse_production import session_avatar

_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def avatar_create(body: object) -> AvatarInput:
    check = Checker()
    root = check.root(body)
    name = root.text("name")
    reference_image = root.optional_text("referenceImage")
    root.require("referenceImage")
    if reference_image is not None and not _URI.fullmatch(reference_image):
        root.problem("referenceImage", "invalid_string", "Invalid uri")
    personality = root.text("personality")
    voice = root.child("voice")
    preset = ""
    if voice is not None:
        voice.choice("type", ("runway-live-preset",))
        preset = voice.text("presetId")
    opening_message = root.optional_text("openingMessage")
    document_ids = root.uuid_list("documentIds", max_items=catalog.DOCUMENT_IDS_MAX)
    check.raise_if_any()
    return AvatarInput(
        name=name,
        reference_image=reference_image or "",
        personality=personality,
        start_script=opening_message,
        voice=Voice(custom=False, id=preset),
        document_ids=document_ids or (),
    )


def document_create(body: object) -> DocumentInput:
    check = Checker()
    root = check.root(body)
    document = DocumentInput(name=root.text("name"), content=root.text("content"))
    check.raise_if_any()
    return document


def session_create(body: object) -> SessionInput:
    """A session request; a length of zero or less is refused as meaningless."""
    check = Checker()
    root = check.root(body)
    root.choice("model", (catalog.SESSION_MODEL,))
    avatar = session_avatar(root, preset_type="preset")
    max_seconds = root.integer(
        "maxSessionDurationSeconds",
        minimum=1,
        maximum=catalog.SEED_MAX_SESSION_SECONDS,
        default=catalog.SEED_MAX_SESSION_SECONDS,
    )
    root.optional_text("personality")
    root.optional_text("startScript")
    check.raise_if_any()
    return SessionInput(avatar=avatar, max_seconds=max_seconds)
