"""/knowledge: give an avatar text to draw on, list it, and take it away again."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.clip import clip
from bot.errors import InvalidInput
from bot.runway import catalog
from bot.runway_bot import RunwayCharactersBot
from bot.services.knowledge import BUDGET
from bot.services.knowledge_text import MAX_FILE_BYTES
from bot.storage import Avatar, ReviewState
from bot.ui.fit import choices, page_of
from cogs.avatar import AvatarCog
from cogs.command_index import for_everyone, for_managers
from cogs.shared import NO_MENTIONS, AvatarOption, Interaction, actor_of, guild_id_of, plain
from cogs.views import Paginator, replace_reply_with_error

log = logging.getLogger(__name__)

DocumentName = app_commands.Range[str, 1, catalog.DOCUMENT_NAME_MAX]
# Ten documents of the longest names and their lines stay far below Discord's 6,000
# characters per message; more go on further pages.
DOCUMENTS_PER_PAGE = 10


class KnowledgeCog(commands.GroupCog, group_name="knowledge"):
    """Knowledge documents that avatars draw on in conversation."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        self.clean_orphans.start()

    async def cog_unload(self) -> None:
        self.clean_orphans.cancel()

    @tasks.loop(minutes=10)
    async def clean_orphans(self) -> None:
        """Delete at Runway the documents no avatar uses any more (failed adds, deletes)."""
        try:
            cleaned = await self.bot.services.knowledge.clean_orphans()
        except Exception:  # retried on the next round
            log.warning("orphan cleanup failed", exc_info=True)
            return
        if cleaned:
            log.info("deleted %d orphaned knowledge documents at Runway", cleaned)

    @for_managers
    @app_commands.command(name="add")
    @app_commands.guild_only()
    @app_commands.describe(
        avatar="The avatar that should know this",
        file="A .txt or .md file (UTF-8 text)",
        name="A name for the document (defaults to the file's name)",
    )
    async def add(
        self,
        interaction: Interaction,
        avatar: AvatarOption,
        file: discord.Attachment,
        name: DocumentName | None = None,
    ) -> None:
        """Upload a text file as knowledge for an avatar."""
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        await self.bot.services.permissions.require_manager(
            guild_id, actor, doing="Adding knowledge"
        )
        if file.size > MAX_FILE_BYTES:
            raise InvalidInput(
                f"That file is {file.size / 1024:.0f} KB; knowledge files may be at most "
                f"{MAX_FILE_BYTES // 1024} KB. Split it into smaller files."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException:
            raise InvalidInput("Discord would not hand over the file; attach it again.") from None

        async def progress(text: str) -> None:
            await interaction.edit_original_response(content=f"⏳ {text}")

        try:
            document, summary = await self.bot.services.knowledge.add(
                guild_id,
                actor,
                avatar,
                filename=file.filename,
                data=data,
                name=name,
                progress=progress,
            )
        except Exception as error:  # the error replaces the progress line
            await replace_reply_with_error(interaction, error)
            return
        embed = self.bot.embeds.make(
            f"{plain(avatar.name)} learned {plain(document.name)}",
            f"About {document.tokens:,} tokens. Knowledge used: {summary.used:,} of "
            f"{BUDGET:,} tokens; {summary.remaining:,} left.",
        )
        note = await self._review_if_needed(avatar, actor.user_id)
        if note:
            embed.description = f"{embed.description}\n{note}"
        await interaction.edit_original_response(
            content=None, embed=embed, allowed_mentions=NO_MENTIONS
        )

    async def _review_if_needed(self, before: Avatar, by: int) -> str | None:
        """With approval on, new knowledge sends the avatar back to review: post it there."""
        if before.review_state is ReviewState.PENDING:
            return None  # already waiting, with its review post
        after = await self.bot.services.avatars.resolve(before.guild_id, str(before.id))
        avatars = self.bot.get_cog(AvatarCog.__cog_name__)
        if after.review_state is not ReviewState.PENDING or not isinstance(avatars, AvatarCog):
            return None
        return await avatars.request_review(after, by=by, change="Knowledge added")

    @for_everyone
    @app_commands.command(name="list")
    @app_commands.guild_only()
    @app_commands.describe(avatar="Whose knowledge to list")
    async def list_(self, interaction: Interaction, avatar: AvatarOption) -> None:
        """List an avatar's knowledge documents and its token budget."""
        guild_id = guild_id_of(interaction)

        async def render(page: int) -> tuple[discord.Embed, int]:
            summary = await self.bot.services.knowledge.summary(guild_id, avatar)
            documents, page, pages = page_of(summary.documents, page, DOCUMENTS_PER_PAGE)
            embed = self.bot.embeds.make(
                f"Knowledge of {plain(avatar.name)}",
                f"{summary.used:,} of {BUDGET:,} tokens used; {summary.remaining:,} left.",
                footer=(
                    f"Page {page + 1} of {pages} · {len(summary.documents)} documents"
                    if pages > 1
                    else None
                ),
            )
            for document in documents:
                embed.add_field(
                    name=plain(document.name),
                    value=f"{document.tokens:,} tokens · added by <@{document.added_by}> "
                    f"<t:{document.created_at}:R>",
                    inline=False,
                )
            if not documents:
                embed.add_field(name="No documents yet", value="Add one with `/knowledge add`.")
            return embed, pages

        embed, pages = await render(0)
        view = Paginator(interaction, render, pages=pages) if pages > 1 else discord.utils.MISSING
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @for_managers
    @app_commands.command(name="remove")
    @app_commands.guild_only()
    @app_commands.describe(avatar="Whose knowledge", document="Which document to remove")
    async def remove(
        self, interaction: Interaction, avatar: AvatarOption, document: DocumentName
    ) -> None:
        """Remove a knowledge document from an avatar (and from Runway)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.services.knowledge.remove(
            guild_id_of(interaction), actor_of(interaction), avatar, document
        )
        await interaction.followup.send(
            f"Removed **{plain(removed.name)}** from **{plain(avatar.name)}**.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @remove.autocomplete("document")
    async def document_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Documents of the avatar chosen in the same command; never raises."""
        chosen = getattr(interaction.namespace, "avatar", None)
        if interaction.guild_id is None or not chosen:
            return []
        try:
            avatar = await self.bot.services.avatars.resolve(interaction.guild_id, str(chosen))
            documents = await self.bot.services.knowledge.search(
                interaction.guild_id, avatar, current
            )
        except Exception:  # autocomplete must never raise
            return []
        return choices((_document_label(doc.name, doc.tokens), str(doc.id)) for doc in documents)


def _document_label(name: str, tokens: int) -> str:
    """The document's name, cut so that its size still shows: "Rules… (120 tokens)"."""
    size = f" ({tokens:,} tokens)"
    return clip(name, 100 - len(size)) + size


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(KnowledgeCog(bot))
