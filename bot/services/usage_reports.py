"""Usage reports: a period's calls by day, top avatars and members, how calls ended, a chart,
a CSV export, and (production API) our books against Runway's own figures.

Admins (Manage Server) see the whole server or any member; everyone else sees only their own
usage. Days and months are the server's, in its timezone. Reconciliation compares the whole
account (every server this bot serves), because that is what Runway can report.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from bot.errors import NotAllowed
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import RunwayError
from bot.services import local_time
from bot.services.actors import Actor, Permissions
from bot.services.chart_process import ChartProcess
from bot.services.quotas import QuotaService
from bot.services.usage_chart import ChartDay
from bot.storage import (
    Clock,
    LabelUsage,
    MemberUsage,
    Period,
    Session,
    SessionRepository,
    UsageRepository,
    UsageTotals,
    unix_now,
)
from bot.storage.books import BooksRepository
from bot.storage.videos import VideoRepository, VideoTotals

TOP: Final = 5
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class ReportPeriod(StrEnum):
    TODAY = "today"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    THIS_MONTH = "month"
    LAST_MONTH = "last_month"
    LAST_12_MONTHS = "12m"


PERIOD_LABELS: Final = {
    ReportPeriod.TODAY: "Today",
    ReportPeriod.LAST_7_DAYS: "Last 7 days",
    ReportPeriod.LAST_30_DAYS: "Last 30 days",
    ReportPeriod.THIS_MONTH: "This month",
    ReportPeriod.LAST_MONTH: "Last month",
    ReportPeriod.LAST_12_MONTHS: "Last 12 months",
}


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Our settled books for the account against Runway's `GET /v1/avatar_usage`."""

    ours_seconds: int
    ours_sessions: int  # sessions that were joined: Runway's "conversations"
    ours_live: int  # still live: their seconds are not in our books yet
    runway_seconds: int | None = None
    runway_sessions: int | None = None
    problem: str | None = None  # why Runway's figures are missing

    @property
    def seconds_difference(self) -> int | None:
        """Ours minus Runway's; None when Runway could not be asked."""
        return None if self.runway_seconds is None else self.ours_seconds - self.runway_seconds


@dataclass(frozen=True, slots=True)
class UsageReport:
    guild_id: int
    member_id: int | None  # None: the whole server
    kind: ReportPeriod
    period: Period
    timezone: str
    totals: UsageTotals
    days: list[ChartDay]
    top_avatars: list[LabelUsage]
    top_members: list[MemberUsage]  # empty in a member's own report
    end_reasons: list[LabelUsage]
    reconciliation: Reconciliation | None
    videos: VideoTotals | None = None
    """Avatar videos settled in the period (None where the bot makes none)."""

    @property
    def label(self) -> str:
        return PERIOD_LABELS[self.kind]


@dataclass(frozen=True, slots=True)
class CsvExport:
    filename: str
    data: bytes
    rows: int


class UsageReports:
    def __init__(
        self,
        *,
        usage: UsageRepository,
        sessions: SessionRepository,
        books: BooksRepository,
        quotas: QuotaService,
        runway: RunwayClient,
        charts: ChartProcess,
        videos: VideoRepository | None = None,
        clock: Clock = unix_now,
    ) -> None:
        self._videos = videos
        self._usage = usage
        self._charts = charts
        self._sessions = sessions
        self._books = books
        self._quotas = quotas
        self._runway = runway
        self._clock = clock

    async def report(
        self, guild_id: int, actor: Actor, kind: ReportPeriod, member_id: int | None = None
    ) -> UsageReport:
        member = _scope(actor, member_id)
        tz = (await self._quotas.settings(guild_id)).timezone
        now = self._clock()
        period = period_of(kind, now, tz)
        figures = await self._usage.summary(
            guild_id, period, local_time.day_starts(period, tz), member_id=member, top=TOP
        )
        videos = None
        if self._videos is not None and self._runway.rules.supports(Operation.VIDEO_CREATE):
            videos = await self._videos.totals(guild_id, period, member_id=member)
        return UsageReport(
            guild_id=guild_id,
            member_id=member,
            kind=kind,
            period=period,
            timezone=tz.key,
            totals=figures.totals,
            days=[
                ChartDay(day, bucket.sessions, bucket.seconds)
                for day, bucket in zip(
                    local_time.day_dates(period, tz), figures.buckets, strict=True
                )
            ],
            top_avatars=figures.top_avatars,
            top_members=figures.top_members,
            end_reasons=figures.end_reasons,
            reconciliation=await self._reconcile(period, now) if member is None else None,
            videos=videos,
        )

    async def chart(self, report: UsageReport) -> bytes:
        """The report's PNG chart, drawn in the chart process (never on the event loop)."""
        whose = "this server" if report.member_id is None else "one member"
        title = f"{report.label}: calls in {whose} ({report.timezone})"
        return await self._charts.render(report.days, title)

    async def export_csv(
        self, guild_id: int, actor: Actor, kind: ReportPeriod, member_id: int | None = None
    ) -> CsvExport:
        """Every session of the period, one row each (admins only)."""
        Permissions.require_admin(actor, doing="Exporting usage")
        tz = (await self._quotas.settings(guild_id)).timezone
        period = period_of(kind, self._clock(), tz)
        sessions = await self._sessions.in_period(guild_id, period, member_id=member_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_row(session, tz) for session in sessions)
        day = local_time.local_date(period.start, tz).isoformat()
        return CsvExport(
            filename=f"usage-{guild_id}-{kind.value}-{day}.csv",
            data=buffer.getvalue().encode("utf-8"),
            rows=len(sessions),
        )

    async def _reconcile(self, period: Period, now: int) -> Reconciliation | None:
        rules = self._runway.rules
        if not rules.supports(Operation.USAGE):
            return None
        ours = await self._books.account_totals(period, rules.dialect)
        base = Reconciliation(
            ours_seconds=ours.settled_seconds,
            ours_sessions=ours.joined_sessions,
            ours_live=ours.live_sessions,
        )
        # Runway is not asked about the future; a minute of slack covers calls that began in
        # the second that `now` rounds down.
        end = min(period.end, now + 60)
        try:
            theirs = await self._runway.usage(
                local_time.utc_datetime(period.start), local_time.utc_datetime(end)
            )
        except RunwayError as error:
            return Reconciliation(
                base.ours_seconds, base.ours_sessions, base.ours_live, problem=error.user_message
            )
        return Reconciliation(
            base.ours_seconds,
            base.ours_sessions,
            base.ours_live,
            runway_seconds=theirs.total_seconds,
            runway_sessions=theirs.total_sessions,
        )


def period_of(kind: ReportPeriod, now: int, tz: ZoneInfo) -> Period:
    """The local period a report covers; "last N days" include today, "last 12 months" this
    month and the eleven before it."""
    today = local_time.day_period(now, tz)
    if kind is ReportPeriod.THIS_MONTH:
        return local_time.month_period(now, tz)
    if kind is ReportPeriod.LAST_MONTH:
        return local_time.previous_month_period(now, tz)
    if kind is ReportPeriod.LAST_12_MONTHS:
        current = local_time.month_period(now, tz)
        earliest = current
        for _ in range(11):
            earliest = local_time.month_period(earliest.start - 1, tz)
        return Period(earliest.start, current.end)
    days = {ReportPeriod.TODAY: 1, ReportPeriod.LAST_7_DAYS: 7, ReportPeriod.LAST_30_DAYS: 30}
    first = local_time.local_date(today.start, tz) - timedelta(days=days[kind] - 1)
    return Period(local_time.midnight(first, tz), today.end)


def _scope(actor: Actor, member_id: int | None) -> int | None:
    """Whose usage the actor may see: admins anyone's (None: the server), others their own."""
    if actor.manages_guild:
        return member_id
    if member_id is not None and member_id != actor.user_id:
        raise NotAllowed("Only members with the Manage Server permission see others' usage.")
    return actor.user_id


CSV_COLUMNS: Final = (
    "session_id",
    "started_at",
    "member_id",
    "avatar",
    "state",
    "end_reason",
    "joined_at",
    "ended_at",
    "max_seconds",
    "used_seconds",
)


def _csv_row(session: Session, tz: ZoneInfo) -> tuple[str | int, ...]:
    def when(moment: int | None) -> str:
        return "" if moment is None else local_time.utc_datetime(moment).astimezone(tz).isoformat()

    return (
        session.id,
        when(session.created_at),
        session.member_id,
        _cell(session.avatar_label),
        session.state.value,
        session.end_reason.value if session.end_reason else "",
        when(session.consumed_at),
        when(session.ended_at),
        session.max_seconds,
        "" if session.used_seconds is None else session.used_seconds,
    )


def _cell(text: str) -> str:
    """Text a spreadsheet must not run as a formula (avatar names are typed by members)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
