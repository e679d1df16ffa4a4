"""Persistent buttons (cogs.persistent): the custom_id each writes is the one it reads back,
and nothing else is taken for one of them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cogs.avatar import ReviewButton
from cogs.avatar_say import CancelButton, LinkButton
from cogs.call_pages import RecordingButton
from cogs.line_board import LeaveLineButton
from cogs.persistent import APPROVE, REJECT, PersistentButton

BIGGEST = 2**63 - 1  # 19 digits: the largest id Discord or the database hands out


@pytest.mark.parametrize(
    ("button", "custom_id", "label"),
    [
        (lambda: ReviewButton(7, APPROVE), "avatar-review:approve:7", "Approve"),
        (lambda: ReviewButton(7, REJECT), "avatar-review:reject:7", "Reject"),
        (lambda: CancelButton(BIGGEST), f"avatar-video:cancel:{BIGGEST}", "Cancel"),
        (lambda: LinkButton(3), "avatar-video:link:3", "Get the video"),
        (lambda: RecordingButton(4), "call-recording:4", "Recording"),
        (lambda: LeaveLineButton(5), "line-leave:5", "Leave the line"),
    ],
)
async def test_a_button_reads_back_what_it_wrote(
    button: Callable[[], PersistentButton], custom_id: str, label: str
) -> None:
    made = button()
    assert (made.custom_id, made.item.label) == (custom_id, label)
    match = made.template.fullmatch(custom_id)
    assert match is not None
    again = await type(made).from_custom_id(None, made.item, match)
    assert (again.target_id, again.choice) == (made.target_id, made.choice)


async def test_the_verdict_decides_the_look() -> None:
    assert ReviewButton(1, APPROVE).approve
    assert not ReviewButton(1, REJECT).approve
    assert [b.custom_id for b in ReviewButton.pair(9).children] == [
        "avatar-review:approve:9",
        "avatar-review:reject:9",
    ]


@pytest.mark.parametrize(
    "custom_id",
    [
        "avatar-review:maybe:7",
        "avatar-review:7",
        "avatar-video:cancel:12345678901234567890",  # 20 digits: no id of ours
        "avatar-video:cancel:7:8",
        "avatar-video:cancel:-7",
        "avatar-video:cancelled:7",
        "video-review:approve:7",  # another kind's prefix
    ],
)
def test_nothing_else_is_taken_for_one(custom_id: str) -> None:
    for kind in (ReviewButton, CancelButton):
        assert kind.__discord_ui_compiled_template__.fullmatch(custom_id) is None


async def test_a_choice_is_required_exactly_where_there_are_choices() -> None:
    with pytest.raises(ValueError, match="choice"):
        ReviewButton(1)
    with pytest.raises(ValueError, match="choice"):
        CancelButton(1, APPROVE)
