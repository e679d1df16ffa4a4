"""Discord's limits applied to the bot's replies (bot.ui.fit, bot.ui.embeds)."""

from __future__ import annotations

from typing import Any

import discord
from hypothesis import given
from hypothesis import strategies as st

from bot.ui import fit
from bot.ui.embeds import EmbedFactory

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)


def test_plain_shows_member_text_as_typed_and_cut() -> None:
    assert fit.plain("*Star* `Bot`") == "\\*Star\\* \\`Bot\\`"
    assert fit.plain("@everyone <@123456789012345678>") == (
        "@\u200beveryone <@\u200b123456789012345678>"
    )
    assert fit.plain("a\\b") == "a\\\\b"  # a member's backslash cannot escape the bot's markup
    assert fit.plain("_" * 300) == "\\_" * 127 + "…"  # 256 by default, never half an escape
    assert fit.plain("x" * 300, limit=10) == "x" * 9 + "…"


def test_a_list_says_how_many_lines_it_left_out() -> None:
    items = [f"line {n}" for n in range(100)]
    text = fit.fit_lines(items, 60)
    assert text.split("\n")[-1] == "… and 94 more"
    assert len(text) <= 60
    assert fit.fit_lines(items[:3], 60) == "line 0\nline 1\nline 2"
    assert fit.fit_lines(["x" * 100], 20) == "x" * 19 + "…"


def test_pages_are_clamped_to_those_there_are() -> None:
    assert fit.page_of(list(range(19)), 1, 10) == (list(range(10, 19)), 1, 2)
    assert fit.page_of(list(range(19)), 7, 10) == (list(range(10, 19)), 1, 2)
    assert fit.page_of([], 0, 10) == ([], 0, 1)


def test_choices_cut_names_and_leave_out_values_that_cannot_be_sent() -> None:
    offered = fit.choices([("n" * 150, "a"), ("ok", "v" * 101), (" ", "b")] * 20)
    assert [(c.name, c.value) for c in offered[:2]] == [("n" * 99 + "…", "a"), ("\u200b", "b")]
    assert len(offered) == 25


def test_only_well_formed_web_links_are_kept() -> None:
    assert fit.web_url("https://example.org/a.png")
    for bad in (None, "", "https://", "ftp://example.org", "https://exa mple.org", "x" * 3000):
        assert not fit.web_url(bad)


def embed(**parts: Any) -> dict[str, Any]:
    return {"type": "rich", **parts}


def test_every_part_is_cut_to_its_limit() -> None:
    fitted = fit.fit_embed(
        embed(
            title="t" * 300,
            description="d" * 5000,
            footer={"text": "f" * 3000},
            author={"name": "a" * 300},
            fields=[{"name": "", "value": "  "}],
            thumbnail={"url": "https://exa mple.org/x.png"},
            image={"url": "attachment://usage.png"},
        ),
        budget=10_000,
    )
    assert (len(fitted["title"]), len(fitted["description"])) == (256, 4096)
    assert (len(fitted["footer"]["text"]), len(fitted["author"]["name"])) == (2048, 256)
    assert fitted["fields"] == [{"name": "\u200b", "value": "\u200b"}]
    assert "thumbnail" not in fitted
    assert fitted["image"] == {"url": "attachment://usage.png"}


def test_fields_past_the_limit_or_the_budget_are_counted() -> None:
    many = [{"name": f"n{i}", "value": "v" * 300, "inline": False} for i in range(40)]
    fitted = fit.fit_embed(embed(title="List", fields=many))
    assert fit.embed_length(fitted) <= fit.EMBED_TOTAL
    assert fitted["fields"][-1]["name"] == "…"
    shown = len(fitted["fields"]) - 1
    assert fitted["fields"][-1]["value"] == f"and {40 - shown} more not shown"
    assert fitted["fields"][:shown] == many[:shown]


@given(
    title=TEXT, description=TEXT, footer=TEXT, fields=st.lists(st.tuples(TEXT, TEXT), max_size=30)
)
def test_any_embed_fits_discord(
    title: str, description: str, footer: str, fields: list[tuple[str, str]]
) -> None:
    data = embed(
        title=title,
        description=description,
        footer={"text": footer},
        fields=[{"name": n, "value": v} for n, v in fields],
    )
    fitted = fit.fit_embed(data)
    assert fit.embed_length(fitted) <= fit.EMBED_TOTAL
    assert len(fitted.get("title", "")) <= fit.TITLE
    assert len(fitted.get("description", "")) <= fit.DESCRIPTION
    assert len(fitted.get("fields", [])) <= fit.FIELDS
    for item in fitted.get("fields", []):
        assert 0 < len(item["name"].strip()) <= fit.FIELD_NAME
        assert 0 < len(item["value"].strip()) <= fit.FIELD_VALUE


def test_the_factory_fits_what_a_cog_puts_in_an_embed() -> None:
    embeds = EmbedFactory(sandbox=True)
    made = embeds.make("Mia learned " + "x" * 600)
    made.description = "d" * 9000
    for n in range(30):
        made.add_field(name=f"n{n}", value="v" * 1000)
    sent = made.to_dict()
    assert len(sent["title"]) == 256
    assert fit.embed_length(dict(sent)) <= fit.EMBED_TOTAL
    assert sent["footer"]["text"].endswith("no Runway credits are used.")
    assert len(str(made.description)) == 9000  # the embed itself keeps what the cog wrote


def test_embeds_sent_together_share_the_budget() -> None:
    embeds = EmbedFactory(sandbox=False)
    first, second = embeds.together(embeds.make("a", "x" * 4000), embeds.make("b", "y" * 4000))
    total = sum(fit.embed_length(dict(e.to_dict())) for e in (first, second))
    assert total <= fit.EMBED_TOTAL
    assert all(isinstance(e, discord.Embed) for e in (first, second))


def test_fill_cuts_the_text_and_keeps_the_words_around_it() -> None:
    assert fit.fill("Edit {}", "Mia", 45) == "Edit Mia"
    assert fit.fill("{} says…", "n" * 50, 45) == "n" * 38 + "… says…"
    assert fit.fill("Delete {}", "👍🏽" * 40, 20) == "Delete " + "👍🏽" * 6 + "…"
    assert fit.fill("Far too long a template: {}", "Mia", 10) == "Far too l…"
