"""Live sessions: reserve, create at Runway, mint a one-time join link, hand out credentials.

The reservation and the limit check are one write transaction under the admission lock, so
concurrent starts cannot overshoot, at one process or several; a start that fails anywhere
after it releases the reservation. Join codes are 192 random bits, stored only as a SHA-256
hash. A code is used up only by `redeem` (the page's POST after the person presses Join), never
by looking at the page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from bot.errors import InvalidInput, LimitReached, NotFound, UserFacingError
from bot.runway import catalog
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import RateLimitedError, RunwayError
from bot.runway.models import CreatedSession, CustomAvatar, PresetAvatar, SessionSpec
from bot.services.actors import Actor
from bot.services.avatars import AvatarService
from bot.services.billable import (
    Adopted,
    BillableCalls,
    CannotTell,
    IntentKind,
    NotCreated,
    Progress,
)
from bot.services.conversations import ConversationService
from bot.services.join_types import JoinCredentials, JoinPicture, JoinState, JoinView
from bot.services.join_vault import seal, secret_hash, unseal, valid_secret
from bot.services.processes import ProcessIdentity
from bot.services.quotas import ACCOUNT_LIVE, QuotaService
from bot.services.reconcile_kinds import PRESET_TARGET, session_fingerprint
from bot.services.tracker import READY_TIMEOUT_SECONDS, SessionTracker
from bot.storage import (
    Avatar,
    AvatarStatus,
    Clock,
    EndReason,
    NewSession,
    ReviewState,
    Session,
    SessionRepository,
    SessionState,
    unix_now,
)
from bot.storage.intents import IntentState, NewIntent
from bot.telemetry import metrics

log = logging.getLogger(__name__)

PRESET_PREFIX: Final = "preset:"
CODE_BYTES: Final = 24
READY_WAIT_SECONDS: Final = 30.0
JOIN_WINDOW_SECONDS: Final = READY_TIMEOUT_SECONDS
"""How long after the start a link can be used: as long as the tracker keeps an unjoined
session before cancelling it (the call itself may then run its full length)."""


# What the join page reports, as the reason recorded; a dropped connection is "abandoned".
_PAGE_REASONS: Final = {
    "member_ended": EndReason.MEMBER_ENDED,
    "time_limit": EndReason.TIME_LIMIT,
    "disconnected": EndReason.ABANDONED,
}


def hash_code(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    avatar: Avatar | None = None
    preset_id: str | None = None


@dataclass(frozen=True, slots=True)
class StartedSession:
    session: Session
    join_url: str
    link_expires_at: int


class SessionService:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        avatars: AvatarService,
        runway: RunwayClient,
        tracker: SessionTracker,
        quotas: QuotaService,
        join_base_url: str,
        max_seconds: int,
        billable: BillableCalls,
        identity: ProcessIdentity,
        conversations: ConversationService,
        clock: Clock = unix_now,
        ready_wait: float = READY_WAIT_SECONDS,
        ready_poll: float = 1.0,
    ) -> None:
        self._billable = billable
        self._identity = identity
        self._conversations = conversations
        self._sessions = sessions
        self._avatars = avatars
        self._runway = runway
        self._tracker = tracker
        self._quotas = quotas
        self._join_base_url = join_base_url.rstrip("/")
        self._max_seconds = runway.rules.clamp_session_seconds(max_seconds)
        self._clock = clock
        self._ready_wait = ready_wait
        self._ready_poll = ready_poll

    @property
    def max_minutes(self) -> int:
        return max(1, self._max_seconds // 60)

    async def target(self, guild_id: int, value: str) -> Target:
        """One of this server's usable avatars, or one of Runway's presets."""
        text = value.strip()
        if text.startswith(PRESET_PREFIX) or text in catalog.AVATAR_PRESETS:
            preset = text.removeprefix(PRESET_PREFIX)
            if preset not in catalog.AVATAR_PRESETS:
                raise NotFound("Runway has no preset avatar by that name.")
            return Target(label=preset_label(preset), preset_id=preset)
        # Refreshed from Runway while it is still processing there (e.g. an avatar the
        # reconciler adopted after a lost answer), so a ready one is never refused as busy.
        avatar = await self._avatars.show(guild_id, text)
        if not avatar.usable:
            raise InvalidInput(f"{avatar.name} cannot take calls yet ({_why_unusable(avatar)}).")
        return Target(label=avatar.name, avatar=avatar)

    async def start(
        self,
        guild_id: int,
        actor: Actor,
        target: Target,
        *,
        minutes: int | None = None,
        progress: Progress | None = None,
    ) -> StartedSession:
        """Reserve and set up the member's call. Raises `SlotsBusy` when every call slot of
        the account is taken (or members wait for one): the member may wait in line."""
        wanted = self._max_seconds if minutes is None else minutes * 60
        # One transaction under the admission lock reads the server's limits and what is
        # used, fits the call to what today's and this month's budgets have left, checks every
        # limit and reserves, whichever process the start arrives at.
        admission = await self._sessions.admit(
            NewSession(
                guild_id=guild_id,
                member_id=actor.user_id,
                avatar_label=target.label,
                dialect=self._runway.rules.dialect,
                max_seconds=min(wanted, self._max_seconds),
                avatar_id=target.avatar.id if target.avatar else None,
                preset_id=target.preset_id,
            ),
            self._quotas.start_policy(actor, self.clamp_seconds),
            owner=self._identity.id,
            intent_for=lambda seconds: self.session_intent(
                guild_id, actor.user_id, target.label, runway_target(target), seconds
            ),
        )
        limit, session = admission.refusal, admission.session
        if limit is not None:
            metrics.refused(limit.limit)
            if limit.limit == ACCOUNT_LIVE:
                raise SlotsBusy(runway_said=False)
            raise LimitReached(
                admission.policy.quotas.explain(limit, self._clock()), limit=limit.limit
            )
        assert session is not None, "an admission without a refusal has its reservation"
        metrics.SESSION_ADMISSIONS.inc()
        return await self._open(session, _shown(target), target.label, progress)

    def wanted_seconds(self, minutes: int | None) -> int:
        """How long a call asked for with `minutes` may last at most (the operator's cap)."""
        return min(self._max_seconds, self._max_seconds if minutes is None else minutes * 60)

    def clamp_seconds(self, seconds: int) -> int:
        """A call's length as Runway takes it (its shortest and longest calls)."""
        return self._runway.rules.clamp_session_seconds(seconds)

    def session_intent(
        self, guild_id: int, member_id: int, label: str, target: str, max_seconds: int
    ) -> NewIntent:
        """The intent written with a call's reservation, before Runway is asked for it."""
        return NewIntent(
            kind=IntentKind.SESSION,
            guild_id=guild_id,
            member_id=member_id,
            name=label,
            fingerprint=session_fingerprint(target, max_seconds),
            target=target,
            decide_after=self._clock() + int(self._runway.create_read_seconds),
            detail={"max_seconds": max_seconds},
        )

    async def open_given(self, session: Session) -> StartedSession:
        """Set up at Runway a call reserved for a member by the waiting line. Raises
        `InvalidInput`/`NotFound` (the reservation released) when its avatar can no longer
        take calls, and what `start` raises when Runway refuses."""
        if session.avatar_id is not None:
            try:
                target = await self.target(session.guild_id, str(session.avatar_id))
            except UserFacingError:
                await self._sessions.release(session.id, EndReason.START_FAILED)
                raise
        else:
            target = Target(label=session.avatar_label, preset_id=session.preset_id)
        return await self._open(session, _shown(target), session.avatar_label, None)

    async def _open(
        self,
        session: Session,
        shown: CustomAvatar | PresetAvatar,
        label: str,
        progress: Progress | None,
    ) -> StartedSession:
        """Create the reserved call at Runway under its intent, and mint its join link."""
        intent_id = await self._billable.intents.for_record(IntentKind.SESSION, session.id)
        try:
            answer = await self._billable.call(
                intent_id,
                lambda: self._runway.create_session(
                    SessionSpec(avatar=shown, max_seconds=session.max_seconds)
                ),
                what=f"your call with {label}",
                progress=progress,
            )
        except RateLimitedError as refused:
            await self._sessions.release(session.id, EndReason.START_FAILED)
            if refused.concurrency:
                raise SlotsBusy(runway_said=True) from refused
            raise
        except (RunwayError, NotCreated, CannotTell):
            await self._sessions.release(session.id, EndReason.START_FAILED)
            raise
        created = CreatedSession(id=answer.runway_id) if isinstance(answer, Adopted) else answer
        code = secrets.token_urlsafe(CODE_BYTES)
        expires = self._clock() + JOIN_WINDOW_SECONDS
        credentials = (
            json.dumps(created.credentials.model_dump(by_alias=True))
            if created.credentials
            else None
        )
        opened = await self._sessions.mark_open(
            session.id,
            runway_id=created.id,
            join_code_hash=hash_code(code),
            code_expires_at=expires,
            seed_credentials=credentials,
        )
        if opened is None:  # the tracker released it meanwhile; Runway's session must go too
            await self._tracker.cancel_remote(created.id)
            await self._sessions.note_runway_id(session.id, created.id)
            await self._billable.intents.resolve(
                intent_id, IntentState.REMOVED, "released while being set up: cancelled"
            )
            raise InvalidInput("The session was stopped while it was being set up; try again.")
        await self._billable.adopted(intent_id, created.id)
        self._tracker.wake()
        return StartedSession(
            session=opened, join_url=f"{self._join_base_url}/join/{code}", link_expires_at=expires
        )

    async def end(self, guild_id: int, actor: Actor) -> Session:
        """End the member's live session now; it is settled to the real seconds used."""
        live = await self._sessions.live_for_member(guild_id, actor.user_id)
        if not live:
            raise NotFound("You have no live session here.")
        return await self._tracker.end_now(live[0], EndReason.MEMBER_ENDED)

    async def live(self, guild_id: int, actor: Actor) -> list[Session]:
        return await self._sessions.live_for_member(guild_id, actor.user_id)

    def time_left(self, session: Session) -> int:
        """Seconds until the limit, counted from when the call was joined (or started)."""
        since = session.consumed_at or session.created_at
        return max(0, since + session.max_seconds - self._clock())

    # The join page's backend (bot.web.join.JoinBackend)

    async def view(self, code: str) -> tuple[JoinState, JoinView | None]:
        session = await self._sessions.find_by_join_code(hash_code(code))
        state = self._state_of(session)
        if state not in (JoinState.OK, JoinState.IN_USE) or session is None:
            return state, None
        assert session.code_expires_at is not None
        told = await self._conversations.disclosure(session.guild_id)
        return state, JoinView(
            avatar_name=session.avatar_label,
            max_seconds=session.max_seconds,
            expires_at=session.code_expires_at,
            has_picture=session.avatar_id is not None,
            transcript=told.transcript,
            recording=told.recording,
            kept=told.kept,
        )

    async def picture(self, code: str) -> tuple[JoinState, JoinPicture | None]:
        """The avatar's picture while the link's page shows the avatar (a link still to be
        used, or a call in progress that its browser may rejoin); never consumes it.

        Any other link (ended, expired, unknown) gets its state and no picture, so a link
        that no longer works does not show whose it was.
        """
        session = await self._sessions.find_by_join_code(hash_code(code))
        state = self._state_of(session)
        if (
            state not in (JoinState.OK, JoinState.IN_USE)
            or session is None
            or session.avatar_id is None
        ):
            return state, None
        picture = await self._avatars.picture(session.guild_id, session.avatar_id)
        if picture is None:
            return state, None
        return state, JoinPicture(data=picture.data, content_type=picture.content_type)

    async def redeem(
        self, code: str, secret: str | None = None
    ) -> tuple[JoinState, JoinCredentials | None]:
        """The call's credentials the first time; later, again, to the browser whose
        `secret` came with that first time (a reload, a dropped connection)."""
        digest = hash_code(code)
        secret = valid_secret(secret)
        session = await self._sessions.use_join_code(
            digest, self._clock(), secret_hash=secret_hash(secret) if secret else None
        )
        if session is None:
            return await self._rejoin(digest, secret)
        try:
            url, token, room = await self._credentials(session)
        except RunwayError:
            log.warning("session %s could not be joined", session.id, exc_info=True)
            await self._tracker.end_now(session, EndReason.NEVER_READY)
            return JoinState.FAILED, None
        now = self._clock()
        if secret is not None:
            credentials = {"url": url, "token": token, "roomName": room}
            await self._sessions.store_join_credentials(
                session.id, seal(secret, credentials, context=digest)
            )
        await self._sessions.mark_consumed(session.id, now)
        # The LiveKit server is no secret, and operators need it for LIVEKIT_ORIGINS.
        log.info("session %s joined through LiveKit at %s", session.id, urlsplit(url).netloc)
        return JoinState.OK, self._join_credentials(session, url, token, room, now)

    async def _rejoin(
        self, digest: bytes, secret: str | None
    ) -> tuple[JoinState, JoinCredentials | None]:
        session = await self._sessions.find_by_join_code(digest)
        state = self._state_of(session)
        if state is not JoinState.IN_USE or session is None:
            return state, None
        if (
            secret is None
            or session.join_secret_hash is None
            or not hmac.compare_digest(session.join_secret_hash, secret_hash(secret))
        ):
            return JoinState.USED, None  # someone else's browser: nothing to hand out
        if session.join_credentials is None:
            return JoinState.WARMING, None  # the first request still waits on Runway
        opened = unseal(secret, session.join_credentials, context=digest)
        if opened is None:
            return JoinState.USED, None
        log.info("session %s rejoined from the same browser", session.id)
        since = session.consumed_at or self._clock()
        return JoinState.OK, self._join_credentials(
            session, opened["url"], opened["token"], opened["roomName"], since
        )

    @staticmethod
    def _join_credentials(
        session: Session, url: str, token: str, room: str, since: int
    ) -> JoinCredentials:
        return JoinCredentials(
            url=url,
            token=token,
            room_name=room,
            ends_at=since + session.max_seconds,
            max_seconds=session.max_seconds,
            avatar_name=session.avatar_label,
        )

    async def ended(self, code: str, reason: str) -> None:
        session = await self._sessions.find_by_join_code(hash_code(code))
        if session is None or not session.live:
            return
        await self._tracker.note_end(session, _PAGE_REASONS.get(reason, EndReason.ABANDONED))

    async def _credentials(self, session: Session) -> tuple[str, str, str]:
        assert session.runway_id is not None
        if not self._runway.rules.supports(Operation.SESSION_CONSUME):
            stored = json.loads(session.seed_credentials or "{}")
            return stored["url"], stored["token"], stored["roomName"]
        ready = await self._runway.wait_for_session_ready(
            session.runway_id, max_wait=self._ready_wait, interval=self._ready_poll
        )
        if ready.session_key is None:
            raise RunwayError("Runway did not give the session a key.")
        consumed = await self._runway.consume_session(
            session.runway_id, SecretStr(ready.session_key)
        )
        return consumed.url, consumed.token, consumed.room_name

    def _state_of(self, session: Session | None) -> JoinState:
        if session is None:
            return JoinState.UNKNOWN
        if session.state in (SessionState.SETTLED, SessionState.RELEASED):
            return JoinState.ENDED
        if session.code_used_at is not None:
            return JoinState.IN_USE
        if session.code_expires_at is None or session.code_expires_at <= self._clock():
            return JoinState.EXPIRED
        return JoinState.OK


class SlotsBusy(Exception):
    """Every call slot of the Runway account is taken, by the bot's own count or because
    Runway answered so (`runway_said`), or members already wait for one: the member may wait
    in line."""

    def __init__(self, *, runway_said: bool) -> None:
        super().__init__("every call slot is busy")
        self.runway_said = runway_said


def runway_target(target: Target) -> str:
    """What the call shows at Runway, as intents record it: an avatar's Runway id, or a preset."""
    if target.avatar is not None and target.avatar.runway_id:
        return target.avatar.runway_id
    return PRESET_TARGET + (target.preset_id or "")


def _shown(target: Target) -> CustomAvatar | PresetAvatar:
    if target.avatar is not None and target.avatar.runway_id:
        return CustomAvatar(avatar_id=target.avatar.runway_id)
    return PresetAvatar(preset_id=target.preset_id or "")


def preset_label(preset_id: str) -> str:
    return f"{preset_id.replace('-', ' ').title()} (Runway preset)"


def _why_unusable(avatar: Avatar) -> str:
    if avatar.status is AvatarStatus.PROCESSING:
        return "Runway is still preparing it"
    if avatar.status is AvatarStatus.FAILED:
        return "Runway could not make it"
    if avatar.review_state is ReviewState.PENDING:
        return "it waits for an admin's approval"
    return "an admin rejected it"
