"""Deleting a knowledge document at Runway and then in the bot's records.

Three paths need it (deleting an avatar, undoing a failed attach, the orphan cleanup)
and all follow one rule: a document Runway no longer has is gone, and one Runway could
not delete now keeps its record, so the periodic cleanup tries again.
"""

from __future__ import annotations

import logging

from bot.runway.client import RunwayClient
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.storage import Document, DocumentRepository

log = logging.getLogger(__name__)


async def delete_everywhere(
    runway: RunwayClient, documents: DocumentRepository, document: Document
) -> bool:
    """True when the document is gone at Runway and here; False leaves it for the cleanup."""
    try:
        await runway.delete_document(document.runway_id)
    except RunwayNotFound:
        pass
    except RunwayError:
        log.info("document %s left for the cleanup", document.id, exc_info=True)
        return False
    await documents.delete(document.guild_id, document.id)
    return True
