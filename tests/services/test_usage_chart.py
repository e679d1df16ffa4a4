"""The usage chart as Discord shows it: read back with Pillow and checked pixel by pixel.

An empty period, a one-day and a 90-day period are drawn; each must sit on the embed's
dark grey, carry a legend with both series' colours in the same place, and show either
bars or the "no calls" message, in text big enough at a phone's preview size.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy
import pytest
from PIL import Image

from bot.services import usage_chart
from bot.services.usage_chart import ChartDay, render_png

START = date(2026, 9, 1)
LEGEND_BAND = (0, 0, usage_chart.WIDTH_PX, 60)  # the strip above the title
PLOT = (70, 100, usage_chart.WIDTH_PX - 70, usage_chart.HEIGHT_PX - 30)  # within the axes


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def draw(days: list[ChartDay]) -> Image.Image:
    image = Image.open(io.BytesIO(render_png(days, "Last 7 days: calls in this server (UTC)")))
    return image.convert("RGB")


def where(
    image: Image.Image, colour: str, box: tuple[int, int, int, int], tolerance: int = 6
) -> list[tuple[int, int]]:
    """(x, y) of the pixels of `colour` inside `box` (left, top, right, bottom)."""
    left, top, right, bottom = box
    pixels = numpy.asarray(image, dtype=numpy.int16)[top:bottom, left:right]
    near = numpy.all(numpy.abs(pixels - numpy.array(rgb(colour))) <= tolerance, axis=-1)
    ys, xs = numpy.nonzero(near)
    return [(int(x) + left, int(y) + top) for x, y in zip(xs, ys, strict=True)]


def bounds(points: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


EMPTY = [ChartDay(START + timedelta(days=n), 0, 0) for n in range(7)]
ONE_DAY = [ChartDay(START, 3, 610)]
NINETY_DAYS = [ChartDay(START + timedelta(days=n), n % 6, (n % 6) * 170) for n in range(90)]
PERIODS = {"empty": EMPTY, "one day": ONE_DAY, "90 days": NINETY_DAYS}


@pytest.fixture(scope="module")
def charts() -> dict[str, Image.Image]:
    return {name: draw(days) for name, days in PERIODS.items()}


@pytest.mark.parametrize("name", list(PERIODS))
def test_every_chart_sits_on_discords_dark_embed_background(charts, name):
    image = charts[name]
    assert image.size == (usage_chart.WIDTH_PX, usage_chart.HEIGHT_PX)
    width, height = image.size
    background = rgb(usage_chart.BACKGROUND)
    for corner in [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]:
        assert image.getpixel(corner) == background, corner
    # Mostly background: no white frame or white plot area anywhere.
    colours = image.getcolors(maxcolors=width * height)
    assert colours is not None
    most_common = max(colours)[1]
    assert most_common == background
    whites = sum(count for count, pixel in colours if min(pixel) > 240)
    assert whites < width * height * 0.01


@pytest.mark.parametrize("name", list(PERIODS))
def test_every_chart_has_a_legend_for_minutes_and_calls(charts, name):
    image = charts[name]
    minutes_patch = where(image, usage_chart.BAR_COLOUR, LEGEND_BAND)
    calls_line = where(image, usage_chart.LINE_COLOUR, LEGEND_BAND)
    assert len(minutes_patch) > 100, "no minutes swatch in the legend"
    assert len(calls_line) > 30, "no calls line in the legend"
    assert bounds(minutes_patch)[2] < bounds(calls_line)[0], "minutes first, then calls"
    legend_text = where(image, usage_chart.TEXT, LEGEND_BAND)
    assert legend_text, "the legend's labels are missing"


def test_the_legend_stays_put_whatever_the_period(charts):
    """The three charts compared: the legend's swatches sit in exactly the same place."""
    swatches = {
        name: bounds(where(image, usage_chart.BAR_COLOUR, LEGEND_BAND))
        for name, image in charts.items()
    }
    assert len(set(swatches.values())) == 1, swatches


def test_an_empty_period_says_so_instead_of_an_empty_frame(charts):
    image = charts["empty"]
    assert where(image, usage_chart.BAR_COLOUR, PLOT) == []
    grid = where(image, usage_chart.GRID, PLOT)
    rows = {y for _, y in grid}
    assert not any(sum(1 for _, y in grid if y == row) > 200 for row in rows), "no grid lines"
    message = where(image, usage_chart.MUTED, (150, 140, 650, 280))
    assert len(message) > 200, "the 'No calls in this period' line is missing"
    left, _, right, _ = bounds(message)
    assert abs((left + right) / 2 - usage_chart.WIDTH_PX / 2) < 20, "the message is centred"


def test_a_one_day_period_shows_one_centred_bar(charts):
    image = charts["one day"]
    bar = where(image, usage_chart.BAR_COLOUR, PLOT)
    left, top, right, _ = bounds(bar)
    assert right - left < 120, "one slim bar, not a bar across the whole plot"
    assert abs((left + right) / 2 - usage_chart.WIDTH_PX / 2) < 40
    assert top < 150, "the day's minutes reach the top of the scale"


def test_a_ninety_day_period_spreads_its_bars_over_the_plot(charts):
    image = charts["90 days"]
    bars = where(image, usage_chart.BAR_COLOUR, PLOT)
    left, _, right, _ = bounds(bars)
    assert right - left > usage_chart.WIDTH_PX * 0.7
    line = where(image, usage_chart.LINE_COLOUR, PLOT)
    assert len(line) > 500, "the calls line runs across the period"


def test_text_stays_readable_at_discords_preview_sizes():
    smallest = min(
        usage_chart.TICK_PX, usage_chart.LABEL_PX, usage_chart.TITLE_PX, usage_chart.MESSAGE_PX
    )
    for device, width in usage_chart.PREVIEW_WIDTHS_PX.items():
        shown = smallest * width / usage_chart.WIDTH_PX
        assert shown >= 8, f"{device}: the smallest text is {shown:.1f} px tall"
