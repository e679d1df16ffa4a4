"""Cursor pagination as Runway does it: `{data, hasMore, nextCursor}` with opaque cursors.

A cursor names the last item handed out (its sort value and id) rather than an offset, so
pages stay correct while items are created or deleted between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from bot.runway.sandbox.errors import Issue, SandboxError
from bot.runway.sandbox.inputs import PageQuery

T = TypeVar("T")
SortKey = tuple[datetime, str]


def paginate(
    items: Iterable[T], key: Callable[[T], SortKey], query: PageQuery
) -> tuple[list[T], str | None]:
    """One page of `items` in the query's order, and the cursor of the next page if any."""
    ordered = sorted(items, key=key, reverse=query.descending)
    if query.cursor is not None:
        after = _decode(query.cursor)
        ordered = [
            item
            for item in ordered
            if (key(item) < after if query.descending else key(item) > after)
        ]
    page = ordered[: query.limit]
    more = len(ordered) > query.limit
    return page, _encode(key(page[-1])) if more else None


def _encode(key: SortKey) -> str:
    raw = json.dumps([key[0].isoformat(), key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> SortKey:
    try:
        moment, item_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        after = datetime.fromisoformat(moment)
        if after.tzinfo is None:
            raise ValueError(moment)
        return after, str(item_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise SandboxError(
            400, "Invalid request.", [Issue("custom", ("cursor",), "Invalid cursor")]
        ) from error
