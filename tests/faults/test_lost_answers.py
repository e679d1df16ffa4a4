"""Each billable create under each fault that leaves the process alive: an answer later than
the bot waits (Runway did act), a connection dropped after Runway acted, and an error before
Runway acted. Then recovery runs, and Runway's objects must equal the bot's records exactly.

Production can list Runway's objects, so a lost answer is always settled: the member's
command finds the object and finishes as if the answer had come, or learns that nothing was
made. The seed description cannot list, so there the bot cannot tell: it keeps nothing, says
so, and reports the intent UNRESOLVED (Runway may then hold an object the bot cannot see).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.errors import UserFacingError
from bot.runway.models import AvatarSpec, PresetAvatar, SessionSpec
from bot.services.billable import CannotTell, NotCreated
from bot.settings import Dialect
from tests.faults.books import assert_books_match, read_books
from tests.faults.conftest import LATE_ANSWER_SECONDS, running_bot, serving_sandbox
from tests.faults.steps import KINDS, ROUTES, act, prepare

FAULTS: dict[str, dict[str, Any]] = {
    "late_answer": {"latency": LATE_ANSWER_SECONDS, "before_handler": False},
    "dropped_answer": {"drop": True, "before_handler": False},
    "error_before": {"status": 500},
}


async def run_case(
    dialect: Dialect, kind: str, fault: str, tmp_path: Path
) -> tuple[object, list[str], Any]:
    async with serving_sandbox(dialect) as sandbox, running_bot(sandbox, tmp_path / "b.db") as bot:
        avatar = await prepare(kind, bot.services)
        shown: list[str] = []

        async def progress(text: str) -> None:
            shown.append(text)

        sandbox.inject("POST", ROUTES[kind], **FAULTS[fault])
        try:
            outcome: object = await act(kind, bot.services, avatar, progress)
        except UserFacingError as refusal:
            outcome = refusal
        await bot.services.reconciler.run_once("test")
        if dialect is Dialect.PRODUCTION:
            books = await assert_books_match(bot.database, sandbox)
        else:
            books = await read_books(bot.database)
        assert sandbox.requests("POST", ROUTES[kind]) == 1, "a billable create was sent twice"
        return outcome, shown, (books, sandbox.inventory())


@pytest.mark.parametrize("fault", ["late_answer", "dropped_answer"])
@pytest.mark.parametrize("kind", KINDS)
async def test_production_finds_what_runway_made_and_finishes_the_command(
    kind: str, fault: str, tmp_path: Path
) -> None:
    outcome, shown, (books, runway) = await run_case(Dialect.PRODUCTION, kind, fault, tmp_path)

    assert not isinstance(outcome, UserFacingError), outcome
    assert any("checking whether it made it" in line for line in shown)
    assert books.intents[kind] == "ADOPTED"
    made = {"avatar": runway["avatars"], "document": runway["documents"]}.get(
        kind, runway["sessions"]
    )
    assert len(made) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_production_error_before_runway_acted_keeps_nothing(
    kind: str, tmp_path: Path
) -> None:
    outcome, _, (books, runway) = await run_case(Dialect.PRODUCTION, kind, "error_before", tmp_path)

    assert isinstance(outcome, NotCreated)
    assert "Runway's own list confirms" in outcome.user_message
    assert "nothing was kept or charged" in outcome.user_message
    assert books.intents[kind] == "FAILED"
    assert runway["sessions"] == {}
    assert len(runway["avatars"]) == (kind == "document")


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", ["avatar", "session"])  # the seed cannot add documents
async def test_seed_cannot_tell_keeps_nothing_and_reports_it(
    kind: str, fault: str, tmp_path: Path
) -> None:
    outcome, _, (books, runway) = await run_case(Dialect.SEED, kind, fault, tmp_path)

    assert isinstance(outcome, CannotTell)
    assert "cannot tell whether" in outcome.user_message
    assert books.intents[kind] == "UNRESOLVED"
    assert books.placeholders == books.reserved == books.open_intents == 0  # name freed
    assert books.avatars == set()
    assert books.sessions == {}
    # What Runway holds that the bot cannot see: one object if Runway had acted.
    strays = len(runway["avatars"]) + len(runway["sessions"])
    assert strays == (fault != "error_before")


async def test_a_slow_answer_within_the_wait_is_followed_with_progress(tmp_path: Path) -> None:
    """The honest slow case: Runway answers after 2.5 s while the bot waits up to 10 s."""
    async with (
        serving_sandbox(Dialect.PRODUCTION) as sandbox,
        running_bot(sandbox, tmp_path / "b.db", create_seconds=10.0) as bot,
    ):
        sandbox.inject("POST", ROUTES["avatar"], latency=2.5, before_handler=False)
        shown: list[str] = []

        async def progress(text: str) -> None:
            shown.append(text)

        created = await act("avatar", bot.services, None, progress)
        await bot.services.reconciler.run_once("test")
        books = await assert_books_match(bot.database, sandbox)

    assert created.avatar.runway_id in books.avatars
    waiting = [line for line in shown if line.startswith("Runway is still working on")]
    assert waiting, shown
    assert "no need to try again" in waiting[-1]
    assert not any("try again in a moment" in line for line in shown)
    assert len(books.avatars) == 1


async def test_objects_of_another_app_on_the_account_are_reported_never_touched(
    tmp_path: Path,
) -> None:
    """The account may be shared: an avatar of the same name made by someone else, and a
    document the bot never sent, survive reconciliation and are counted as not this bot's."""
    async with (
        serving_sandbox(Dialect.PRODUCTION) as sandbox,
        running_bot(sandbox, tmp_path / "b.db") as bot,
    ):
        theirs = await bot.runway.create_avatar(
            AvatarSpec(
                name="Ada",
                reference_image="https://images.example.org/theirs.png",
                personality="Someone else's assistant.",
                voice_preset="luna",
            )
        )
        document = await bot.runway.create_document("Ada's notes", "Not the bot's.")
        sandbox.inject("POST", ROUTES["avatar"], drop=True)  # lost before Runway acted

        async def quiet(_: str) -> None:
            return None

        with pytest.raises(UserFacingError):
            await act("avatar", bot.services, None, quiet)
        await bot.services.reconciler.run_once("test")
        books = await read_books(bot.database)
        runway = sandbox.inventory()
        strangers = bot.services.reconciler.unattributed

    assert set(runway["avatars"]) == {theirs.id}
    assert set(runway["documents"]) == {document.id}
    assert books.avatars == set()
    assert books.intents["avatar"] == "FAILED"
    assert books.placeholders == 0
    assert strangers == {"avatar": {theirs.id}}  # reported (in /about), left alone


async def test_preset_sessions_that_could_be_anyones_are_left_alone(tmp_path: Path) -> None:
    """A preset session carries nothing of the bot's: when another app on the account holds
    several in the window, none is surely the bot's, so none is cancelled."""
    async with (
        serving_sandbox(Dialect.PRODUCTION) as sandbox,
        running_bot(sandbox, tmp_path / "b.db") as bot,
    ):
        spec = SessionSpec(avatar=PresetAvatar(preset_id="cooking-teacher"), max_seconds=60)
        theirs = {(await bot.runway.create_session(spec)).id for _ in range(2)}
        sandbox.inject("POST", ROUTES["session"], drop=True)

        async def quiet(_: str) -> None:
            return None

        with pytest.raises(NotCreated):
            await act("session", bot.services, None, quiet)
        books = await read_books(bot.database)
        strangers = bot.services.reconciler.unattributed

    runway = sandbox.inventory()["sessions"]
    assert set(runway) == theirs
    assert "CANCELLED" not in runway.values()
    assert books.intents["session"] == "FAILED"
    assert books.reserved == 0
    assert strangers == {"session": theirs}
