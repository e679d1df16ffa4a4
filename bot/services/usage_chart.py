"""The usage chart: call minutes per day as bars, calls per day as a line, one PNG.

It is drawn for where it is seen: inside a Discord embed in the dark theme, shrunk to about
400 pixels wide on a desktop and 320 on a phone. So the background is the embed's own grey,
grid and text take Discord's greys, sizes are set in pixels of the 800-pixel image so text
stays at least 8 pixels tall at phone size, a legend names both series, and a period without
calls says so instead of showing an empty frame.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no global state), so
figures can be drawn on worker threads, off the event loop. matplotlib is imported on the
first chart only: a bot that nobody asks for a chart never loads it (tens of MiB).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_PX: Final = 800
HEIGHT_PX: Final = 360
DPI: Final = 100
PREVIEW_WIDTHS_PX: Final = {"desktop": 400, "phone": 320}
"""How wide Discord shows an embed's image: the smallest text must stay readable there."""

BACKGROUND: Final = "#2b2d31"  # a Discord embed in the dark theme
GRID: Final = "#3f4147"
TEXT: Final = "#dbdee1"
MUTED: Final = "#b5bac1"
BAR_COLOUR: Final = "#5865F2"  # Discord's blurple, as the embeds use
LINE_COLOUR: Final = "#EB459E"

TITLE_PX: Final = 24
LABEL_PX: Final = 21
TICK_PX: Final = 20
MESSAGE_PX: Final = 30
TITLE_WRAP: Final = 60  # characters: a long timezone's name goes on a second line
MAX_LABELS: Final = 7
MIN_SLOTS: Final = 7  # a short period's bars keep a week's width, centred
PAD_PX: Final = 12
MARKERS_UP_TO: Final = 31  # days; past that the dots crowd into a smear
MINUTES_LABEL: Final = "call minutes"
CALLS_LABEL: Final = "calls"
NO_CALLS: Final = "No calls in this period"


@dataclass(frozen=True, slots=True)
class ChartDay:
    day: date
    sessions: int
    seconds: int


def _pt(pixels: float) -> float:
    """matplotlib sizes fonts in points; the chart is designed in pixels of the image."""
    return pixels * 72 / DPI


def render_png(days: Sequence[ChartDay], title: str) -> bytes:
    """The chart as PNG bytes; blocking (call it on a worker thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - lazy, see above
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    figure = Figure(
        figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI),
        dpi=DPI,
        layout=ConstrainedLayoutEngine(w_pad=PAD_PX / DPI, h_pad=PAD_PX / DPI),
        facecolor=BACKGROUND,
    )
    FigureCanvasAgg(figure)
    minutes_axis = figure.add_subplot(facecolor=BACKGROUND)
    minutes_axis.set_title(
        textwrap.fill(title, TITLE_WRAP), color=TEXT, fontsize=_pt(TITLE_PX), loc="left"
    )
    figure.legend(
        handles=[
            Patch(facecolor=BAR_COLOUR, label=MINUTES_LABEL),
            Line2D([], [], color=LINE_COLOUR, linewidth=3, marker="o", label=CALLS_LABEL),
        ],
        loc="outside upper right",
        ncols=2,
        frameon=False,
        fontsize=_pt(LABEL_PX),
        labelcolor=TEXT,
        handlelength=1.4,
        columnspacing=1.2,
    )
    if any(day.sessions or day.seconds for day in days):
        _draw(minutes_axis, days)
    else:
        minutes_axis.set_axis_off()
        minutes_axis.text(
            0.5,
            0.5,
            NO_CALLS,
            transform=minutes_axis.transAxes,
            ha="center",
            va="center",
            color=MUTED,
            fontsize=_pt(MESSAGE_PX),
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def _draw(minutes_axis: Axes, days: Sequence[ChartDay]) -> None:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - lazy, see the module docstring

    positions = list(range(len(days)))
    minutes = [day.seconds / 60 for day in days]
    calls = [day.sessions for day in days]
    minutes_axis.bar(positions, minutes, color=BAR_COLOUR, width=0.8, zorder=2)
    _style(minutes_axis, MINUTES_LABEL, BAR_COLOUR)
    minutes_axis.yaxis.grid(True, color=GRID, linewidth=1)
    minutes_axis.set_axisbelow(True)
    minutes_axis.set_ylim(0, max(1.0, max(minutes) * 1.1))
    minutes_axis.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    step = max(1, -(-len(days) // MAX_LABELS))
    labels = [_label(day.day, len(days)) for day in days]
    minutes_axis.set_xticks(positions[::step], labels[::step])
    spare = max(0, MIN_SLOTS - len(days)) / 2
    minutes_axis.set_xlim(-0.6 - spare, len(days) - 0.4 + spare)

    calls_axis = minutes_axis.twinx()
    calls_axis.plot(
        positions,
        calls,
        color=LINE_COLOUR,
        linewidth=3 if len(days) <= MARKERS_UP_TO else 2,
        marker="o" if len(days) <= MARKERS_UP_TO else None,
        markersize=8,
        zorder=3,
    )
    _style(calls_axis, CALLS_LABEL, LINE_COLOUR)
    calls_axis.set_ylim(0, max(1, *calls) * 1.1)
    calls_axis.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))


def _style(axis: Axes, label: str, colour: str) -> None:
    """Discord's greys for the frame and ticks; each y axis named in its series' colour."""
    axis.set_ylabel(label, color=colour, fontsize=_pt(LABEL_PX))
    axis.tick_params(colors=MUTED, labelsize=_pt(TICK_PX), length=0, pad=6)
    for side, spine in axis.spines.items():
        spine.set_visible(side == "bottom")
        spine.set_color(GRID)


def _label(day: date, count: int) -> str:
    return day.strftime("%a %d") if count <= 7 else day.strftime("%d %b")
