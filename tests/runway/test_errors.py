"""Runway's refusals as a member reads them: a few issues, and a count of the rest."""

from __future__ import annotations

from bot.runway.errors import ISSUES_SHOWN, BadRequestError, Issue


def test_a_refusal_lists_its_issues() -> None:
    error = BadRequestError(
        "Runway refused the request: Invalid request.",
        issues=(Issue("name", "Too long"), Issue("", "Bad body")),
    )
    assert error.describe() == (
        "Runway refused the request: Invalid request.\n- name: Too long\n- request: Bad body"
    )


def test_many_issues_are_counted_not_listed() -> None:
    issues = tuple(Issue(f"documentIds.{n}", "Unknown document") for n in range(13))
    lines = BadRequestError(issues=issues).describe().split("\n")
    assert lines[0] == "Runway refused the request as invalid."
    assert lines[1:-1] == [f"- documentIds.{n}: Unknown document" for n in range(ISSUES_SHOWN)]
    assert lines[-1] == "… and 8 more"


def test_a_long_path_is_cut() -> None:
    (line,) = BadRequestError(issues=(Issue("a." * 100, "x"),)).describe().split("\n")[1:]
    assert line.startswith("- a.a.")
    assert line.endswith("…: x")
    assert len(line) == len("- ") + 80 + len(": x")
