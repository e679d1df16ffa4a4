"""The usage chart: call minutes per day as bars, calls per day as a line, one PNG.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no global state), so
figures can be drawn on worker threads, off the event loop. matplotlib is imported on the
first chart only: a bot that nobody asks for a chart never loads it (tens of MiB).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH_INCHES = 8.0
HEIGHT_INCHES = 3.6
DPI = 100
BAR_COLOUR = "#5865F2"  # Discord's blurple, as the embeds use
LINE_COLOUR = "#EB459E"
MAX_LABELS = 12


@dataclass(frozen=True, slots=True)
class ChartDay:
    day: date
    sessions: int
    seconds: int


def render_png(days: Sequence[ChartDay], title: str) -> bytes:
    """The chart as PNG bytes; blocking (call it on a worker thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - lazy, see above
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    minutes_axis = figure.add_subplot()
    labels = [_label(day.day, len(days)) for day in days]
    positions = list(range(len(days)))
    minutes_axis.bar(positions, [day.seconds / 60 for day in days], color=BAR_COLOUR)
    minutes_axis.set_ylabel("call minutes")
    minutes_axis.set_title(title)
    step = max(1, -(-len(days) // MAX_LABELS))
    slanted = len(days) > 7
    minutes_axis.set_xticks(
        positions[::step],
        labels[::step],
        rotation=45 if slanted else 0,
        ha="right" if slanted else "center",
    )
    minutes_axis.set_ylim(bottom=0)
    minutes_axis.spines[["top"]].set_visible(False)
    calls_axis = minutes_axis.twinx()
    calls_axis.plot(positions, [day.sessions for day in days], color=LINE_COLOUR, marker="o")
    calls_axis.set_ylabel("calls")
    calls_axis.set_ylim(bottom=0)
    calls_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    calls_axis.spines[["top"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(day: date, count: int) -> str:
    return day.strftime("%a %d") if count <= 7 else day.strftime("%d %b")
