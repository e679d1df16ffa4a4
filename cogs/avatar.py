"""/avatar: create, list, show, edit and delete a server's avatars; review and history.

The cog parses options, asks `bot.services.avatars` and renders the answer. Every reply
that echoes what a member typed goes out with mentions disabled.
"""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_permissions import REVIEW_POSTS
from bot.errors import InvalidInput
from bot.runway import catalog
from bot.runway.dialects import Operation
from bot.runway_bot import RunwayCharactersBot
from bot.services.avatars import CreatedAvatar, ImageLink, ImageSource, ImageUpload
from bot.services.channel_posts import POST_FAILED
from bot.services.conversations import DELETE_FAILING, LOOKUP, RECORDING_FETCHED
from bot.services.images import MAX_IMAGE_BYTES
from bot.services.knowledge import BUDGET
from bot.services.voices import VOICE_ID_MAX
from bot.storage import AuditEntry, Avatar, AvatarStatus, ReviewState
from bot.storage.audit import LOOKED_UP_MEMBER
from bot.storage.common import FORGOTTEN_MEMBER
from bot.storage.videos import Video
from bot.ui.embeds import FAILURE, SUCCESS, WARNING
from bot.ui.fit import BUTTON_LABEL, DESCRIPTION, MODAL_TITLE, choices, fill, fit_lines
from cogs import avatar_say
from cogs.channels import Posted, channel_health, post, require_postable
from cogs.command_index import for_admins, for_everyone, for_managers
from cogs.persistent import VERDICTS, VerdictButton
from cogs.shared import (
    NO_MENTIONS,
    AvatarOption,
    Interaction,
    actor_of,
    guild_id_of,
    plain,
    status_label,
)
from cogs.views import Confirm, Paginator, TextModal

MODAL_TEXT_MAX = 4000  # Discord's limit for one text input
SAY_OPTION_MAX = 6000  # Discord's limit for a text option: longer than Runway's 5,000, so a
# member who pastes too much reads how much too much, instead of Discord's bare refusal
FAILURE_REASON_SHOWN = 1000  # of Runway's reason for a failed avatar; the rest is cut

# What a member can type is bounded by what it can be, so Discord stops the rest.
VoiceId = app_commands.Range[str, 1, VOICE_ID_MAX]
ImageLinkOption = app_commands.Range[str, 1, catalog.REFERENCE_HTTPS_MAX]

STYLE_HINTS: dict[str, str] = {
    "tutor": "You are a patient tutor. Explain step by step, check understanding with short "
    "questions, and encourage the learner.",
    "support": "You are a friendly support agent for this community. Answer briefly and "
    "clearly, and say so when you do not know.",
    "storyteller": "You are a lively storyteller. Speak vividly, invite the listener into the "
    "story, and keep each turn short so they can respond.",
    "host": "You are the warm host of this server. Welcome people, point them to the right "
    "places, and keep the mood friendly.",
}


class AvatarCog(commands.GroupCog, group_name="avatar"):
    """Conversational video avatars of this server."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()

    # Creating

    @for_managers
    @app_commands.command(name="create")
    @app_commands.guild_only()
    @app_commands.describe(
        name="The avatar's name (up to 50 characters)",
        voice="The voice it speaks with",
        image="A clear portrait: JPEG, PNG or WebP",
        image_url="Or an https:// link to the image",
        style="Start the personality from a template you can edit",
    )
    @app_commands.choices(
        style=[app_commands.Choice(name=key.title(), value=key) for key in STYLE_HINTS]
    )
    async def create(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, catalog.AVATAR_NAME_MAX],
        voice: VoiceId,
        image: discord.Attachment | None = None,
        image_url: ImageLinkOption | None = None,
        style: app_commands.Choice[str] | None = None,
    ) -> None:
        """Create an avatar from an image; a form then asks for its personality."""
        avatars = self.bot.services.avatars
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        source = _image_source_check(image, image_url)
        voice_id = avatars.voices.validate(voice)
        await avatars.check_creatable(guild_id, actor, name)

        async def submitted(modal_interaction: Interaction, values: dict[str, str]) -> None:
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            draft = avatars.clean_draft(
                name=name,
                personality=values["personality"],
                voice=voice_id,
                start_script=values.get("start_script"),
            )
            picture = await _image_source(source)
            shown = ""

            async def progress(step: str) -> None:
                nonlocal shown
                if step != shown:
                    shown = step
                    await modal_interaction.edit_original_response(content=f"⏳ {step}")

            created = await avatars.create(
                guild_id,
                actor,
                draft,
                picture,
                progress=progress,
                max_avatars=await self.bot.services.quotas.max_avatars(guild_id),
            )
            await self._announce(modal_interaction, created)

        personality = discord.ui.TextInput[TextModal](
            label="Personality: how it behaves and speaks",
            custom_id="personality",
            style=discord.TextStyle.paragraph,
            max_length=MODAL_TEXT_MAX,
            default=STYLE_HINTS.get(style.value) if style else None,
            placeholder="You are a cheerful guide to our server…",
        )
        opening = discord.ui.TextInput[TextModal](
            label="Opening line (optional)",
            custom_id="start_script",
            style=discord.TextStyle.paragraph,
            max_length=catalog.START_SCRIPT_MAX,
            required=False,
            placeholder="Hi! What would you like to talk about?",
        )
        await interaction.response.send_modal(
            TextModal(
                title=fill("New avatar: {}", name, MODAL_TITLE),
                fields=[personality, opening],
                on_submit=submitted,
            )
        )

    @create.autocomplete("voice")
    async def voice_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _voice_choices(self.bot, current)

    async def _announce(self, interaction: Interaction, created: CreatedAvatar) -> None:
        avatar = created.avatar
        if avatar.status is AvatarStatus.FAILED:
            failed = self.bot.embeds.make(
                "Runway could not make this avatar",
                "Runway's reason: "
                f"{plain(avatar.failure_reason or 'not given', limit=FAILURE_REASON_SHOWN)}\n\n"
                "Nothing was kept; try another image (a clear, front-facing portrait works best).",
                colour=FAILURE,
            )
            await interaction.edit_original_response(
                content=None, embed=failed, allowed_mentions=NO_MENTIONS
            )
            return
        embed = await self._avatar_embed(avatar)
        notes = []
        if created.still_processing:
            notes.append("Runway is still preparing it; `/avatar show` tells when it is ready.")
        if created.awaiting_review:
            notes.append(await self.request_review(avatar, by=avatar.created_by, change="Created"))
        embed.description = "\n".join([embed.description or "", *notes]).strip()
        await interaction.edit_original_response(
            content=None, embed=embed, allowed_mentions=NO_MENTIONS
        )

    async def request_review(self, avatar: Avatar, *, by: int, change: str) -> str:
        """Post the avatar with Approve / Reject in the review channel; a note for the member.

        `change` says what happened ("Created", "Changed", "Knowledge added") and `by` who.
        """
        settings = await self.bot.services.guilds.get(avatar.guild_id)
        channel_id = settings.review_channel_id
        if channel_id is None:
            return (
                "It waits for approval, but no review channel is set: an admin can set one "
                "with `/avatar permissions`."
            )
        posted = await self._post_review(avatar, channel_id, by=by, change=change)
        if posted.message is None:
            return (
                f"It waits for approval, but I could not post it in <#{channel_id}> for "
                f"review: {posted.problem}. Once an admin has fixed that, choosing the review "
                "channel again with `/avatar permissions` posts it; `/avatar history` keeps a "
                "note of it."
            )
        return f"It waits for an admin's approval in <#{channel_id}> before members can use it."

    async def _post_review(
        self, avatar: Avatar, channel_id: int, *, by: int, change: str
    ) -> Posted:
        """The review post, with the avatar's picture, remembered on the avatar when made."""
        embed = await self._avatar_embed(avatar, title=f"Review: {plain(avatar.name)}")
        embed.add_field(name=f"{change} by", value=f"<@{by}>")
        picture = await self.bot.services.avatars.picture(avatar.guild_id, avatar.id)
        file = None
        if picture is not None:
            file = discord.File(io.BytesIO(picture.data), filename=picture.filename)
            embed.set_thumbnail(url=None)
            embed.set_image(url=f"attachment://{picture.filename}")
        posted = await post(
            self.bot,
            REVIEW_POSTS,
            guild_id=avatar.guild_id,
            channel_id=channel_id,
            embed=embed,
            file=file,
            view=ReviewButton.pair(avatar.id),
        )
        await self.bot.services.avatars.set_review_message(
            avatar.guild_id, avatar.id, None if posted.message is None else posted.message.id
        )
        return posted

    # Speaking on video

    @for_everyone
    @app_commands.command(name="say")
    @app_commands.guild_only()
    @app_commands.describe(
        avatar="Which avatar speaks",
        text="What it says (up to 5,000 characters); leave out for a form that takes longer texts",
        voice="Another voice for the text (optional)",
        audio="Or a recording it speaks instead: a voice message, OGG, MP3, WAV or M4A",
    )
    async def say(
        self,
        interaction: Interaction,
        avatar: AvatarOption,
        text: app_commands.Range[str, 1, SAY_OPTION_MAX] | None = None,
        voice: VoiceId | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        """Post a video of an avatar speaking your text or recording in this channel."""
        await avatar_say.say(self.bot, interaction, avatar, text, voice, audio)

    @say.autocomplete("voice")
    async def say_voice_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _voice_choices(self.bot, current)

    # Reading

    @for_everyone
    @app_commands.command(name="list")
    @app_commands.guild_only()
    async def list_(self, interaction: Interaction) -> None:
        """List this server's avatars."""
        guild_id = guild_id_of(interaction)

        async def render(page: int) -> tuple[discord.Embed, int]:
            result = await self.bot.services.avatars.page(guild_id, page)
            embed = self.bot.embeds.make(
                "Avatars of this server",
                footer=f"Page {result.page + 1} of {result.pages} · {result.total} in all",
            )
            if not result.avatars:
                embed.description = (
                    "No avatars yet. Someone with Manage Server can `/avatar create` one."
                )
            for avatar in result.avatars:
                embed.add_field(
                    name=f"{plain(avatar.name)} · {status_label(avatar)}",
                    value=plain(avatar.personality, limit=120),
                    inline=False,
                )
            return embed, result.pages

        embed, pages = await render(0)
        view = Paginator(interaction, render, pages=pages) if pages > 1 else discord.utils.MISSING
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @for_everyone
    @app_commands.command(name="show")
    @app_commands.guild_only()
    @app_commands.describe(avatar="Which avatar")
    async def show(self, interaction: Interaction, avatar: AvatarOption) -> None:
        """Show an avatar: its image, voice, personality and knowledge."""
        await interaction.response.defer(ephemeral=True)
        fresh = await self.bot.services.avatars.show(guild_id_of(interaction), str(avatar.id))
        embed = await self._avatar_embed(fresh)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _avatar_embed(self, avatar: Avatar, *, title: str | None = None) -> discord.Embed:
        tokens = await self.bot.services.avatars.knowledge_tokens(avatar.guild_id, avatar.id)
        embed = self.bot.embeds.make(
            title or plain(avatar.name),
            colour=SUCCESS if avatar.usable else WARNING,
        )
        embed.add_field(name="Status", value=status_label(avatar))
        embed.add_field(
            name="Voice", value=self.bot.services.avatars.voices.label(avatar.voice_preset)
        )
        embed.add_field(name="Knowledge", value=f"{tokens:,} of {BUDGET:,} tokens used")
        embed.add_field(
            name="Personality", value=plain(avatar.personality, limit=400), inline=False
        )
        if avatar.start_script:
            embed.add_field(
                name="Opening line", value=plain(avatar.start_script, limit=300), inline=False
            )
        image = avatar.processed_image_uri or avatar.reference_image_uri or avatar.image_source_url
        if image and image.startswith("https://"):
            embed.set_thumbnail(url=image)
        return embed

    # Changing

    @for_managers
    @app_commands.command(name="edit")
    @app_commands.guild_only()
    @app_commands.describe(avatar="Which avatar", voice="A new voice (optional)")
    async def edit(
        self, interaction: Interaction, avatar: AvatarOption, voice: VoiceId | None = None
    ) -> None:
        """Edit an avatar's name, personality, opening line or voice."""
        service = self.bot.services.avatars
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        if not self.bot.runway.rules.supports(Operation.AVATAR_UPDATE):
            raise InvalidInput(
                "The Runway API this bot is set up for (the seed description) cannot change an "
                "avatar after it is made. Delete it and create it again instead."
            )
        await self.bot.services.permissions.require_manager(
            guild_id, actor, doing="Editing avatars"
        )
        if voice is not None:
            voice = service.voices.validate(voice)  # before the form, so no typing is wasted
        long_personality = len(avatar.personality) > MODAL_TEXT_MAX

        async def submitted(modal_interaction: Interaction, values: dict[str, str]) -> None:
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            updated = await service.edit(
                guild_id,
                actor,
                avatar,
                name=values["name"],
                personality=avatar.personality if long_personality else values["personality"],
                start_script=values.get("start_script"),
                voice=voice,
            )
            embed = await self._avatar_embed(updated)
            embed.description = "Saved."
            if (
                updated.review_state is ReviewState.PENDING
                and avatar.review_state is not ReviewState.PENDING
            ):
                note = await self.request_review(updated, by=actor.user_id, change="Changed")
                embed.description += f"\n{note}"
            await modal_interaction.edit_original_response(
                embed=embed, allowed_mentions=NO_MENTIONS
            )

        fields = [
            discord.ui.TextInput[TextModal](
                label="Name",
                custom_id="name",
                default=avatar.name,
                max_length=catalog.AVATAR_NAME_MAX,
            )
        ]
        if not long_personality:
            fields.append(
                discord.ui.TextInput[TextModal](
                    label="Personality",
                    custom_id="personality",
                    style=discord.TextStyle.paragraph,
                    default=avatar.personality,
                    max_length=MODAL_TEXT_MAX,
                )
            )
        fields.append(
            discord.ui.TextInput[TextModal](
                label="Opening line (empty for none)",
                custom_id="start_script",
                style=discord.TextStyle.paragraph,
                default=avatar.start_script,
                required=False,
                max_length=catalog.START_SCRIPT_MAX,
            )
        )
        await interaction.response.send_modal(
            TextModal(
                title=fill("Edit {}", avatar.name, MODAL_TITLE), fields=fields, on_submit=submitted
            )
        )

    @edit.autocomplete("voice")
    async def edit_voice_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _voice_choices(self.bot, current)

    @for_managers
    @app_commands.command(name="delete")
    @app_commands.guild_only()
    @app_commands.describe(avatar="Which avatar to delete")
    async def delete(self, interaction: Interaction, avatar: AvatarOption) -> None:
        """Delete an avatar and the knowledge attached to it."""
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        await self.bot.services.permissions.require_manager(
            guild_id, actor, doing="Deleting avatars"
        )
        confirm = Confirm(interaction, confirm_label=fill("Delete {}", avatar.name, BUTTON_LABEL))
        await interaction.response.send_message(
            f"Delete **{plain(avatar.name)}** and its knowledge documents? This cannot be undone.",
            view=confirm,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        await confirm.wait()
        if not confirm.confirmed:
            await interaction.edit_original_response(
                content="Kept. Nothing was deleted.", view=None
            )
            return
        removed = await self.bot.services.avatars.delete(guild_id, actor, avatar)
        await interaction.edit_original_response(
            content=f"Deleted **{plain(avatar.name)}** and {removed} knowledge document(s).",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )

    # Administration

    @for_admins
    @app_commands.command(name="permissions")
    @app_commands.guild_only()
    @app_commands.describe(
        manager_role="A role that may create, edit and delete avatars besides Manage Server",
        clear_manager_role="Remove the manager role",
        approval="Whether new or changed avatars, and video requests, wait for an admin's approval",
        review_channel="Where approval requests are posted",
        video_role="A role whose members may ask avatars for videos (/avatar say)",
        clear_video_role="Only managers may ask for videos again",
    )
    async def permissions(
        self,
        interaction: Interaction,
        manager_role: discord.Role | None = None,
        clear_manager_role: bool = False,
        approval: bool | None = None,
        review_channel: discord.TextChannel | None = None,
        video_role: discord.Role | None = None,
        clear_video_role: bool = False,
    ) -> None:
        """Who may manage avatars here, and whether they need approval."""
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        self.bot.services.permissions.require_admin(actor, doing="Changing avatar permissions")
        if review_channel is not None:
            require_postable(interaction, review_channel)
        changes: dict[str, Any] = {}
        if manager_role is not None:
            changes["manager_role_id"] = manager_role.id
        elif clear_manager_role:
            changes["manager_role_id"] = None
        if approval is not None:
            changes["approval_required"] = approval
        if review_channel is not None:
            changes["review_channel_id"] = review_channel.id
        if video_role is not None:
            changes["video_role_id"] = video_role.id
        elif clear_video_role:
            changes["video_role_id"] = None
        if changes:
            await self.bot.services.guilds.update(guild_id, **changes)
        settings = await self.bot.services.guilds.get(guild_id)
        embed = self.bot.embeds.make("Avatar permissions")
        embed.add_field(
            name="May manage avatars",
            value="Manage Server"
            + (f" and <@&{settings.manager_role_id}>" if settings.manager_role_id else ""),
            inline=False,
        )
        embed.add_field(
            name="May ask for videos",
            value="Managers"
            + (f" and <@&{settings.video_role_id}>" if settings.video_role_id else " only"),
            inline=False,
        )
        embed.add_field(name="Approval", value="required" if settings.approval_required else "off")
        embed.add_field(
            name="Review channel",
            value=channel_health(interaction.guild, settings.review_channel_id)
            if settings.review_channel_id
            else "not set",
        )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        if review_channel is not None:
            await self._post_waiting_reviews(interaction, review_channel.id)

    async def _post_waiting_reviews(self, interaction: Interaction, channel_id: int) -> None:
        """Post the reviews that could not be posted before, now that a channel was chosen."""
        waiting = await self.bot.services.avatars.unposted_reviews(guild_id_of(interaction))
        posted, problems = [], []
        for avatar in waiting:
            result = await self._post_review(
                avatar, channel_id, by=avatar.created_by, change="Created"
            )
            if result.message is not None:
                posted.append(f"**{plain(avatar.name)}**")
            elif result.problem is not None:
                problems.append(result.problem)
        lines = []
        if posted:
            lines.append(f"Posted for review in <#{channel_id}>: {', '.join(posted)}.")
        if problems:
            lines.append(
                f"{len(problems)} avatar(s) waiting for review could still not be posted: "
                f"{problems[0]}."
            )
        if lines:
            await interaction.followup.send(
                "\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS
            )

    @for_managers
    @app_commands.command(name="history")
    @app_commands.guild_only()
    async def history(self, interaction: Interaction) -> None:
        """What was done to this server's avatars and knowledge, newest first."""
        entries = await self.bot.services.avatars.history(
            guild_id_of(interaction), actor_of(interaction)
        )
        embed = self.bot.embeds.make("Avatar history")
        history = [_history_line(entry) for entry in entries]
        embed.description = fit_lines(history, DESCRIPTION) or "Nothing yet."
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


def _voice_choices(bot: RunwayCharactersBot, current: str) -> list[app_commands.Choice[str]]:
    found = bot.services.avatars.voices.search(current)
    return choices((choice.label, choice.preset_id) for choice in found)


def _history_line(entry: AuditEntry) -> str:
    when = f"<t:{entry.created_at}:R>"
    if entry.action == POST_FAILED:
        channel, problem = entry.detail.get("channel_id"), entry.detail.get("problem")
        return f"{when} ⚠️ the bot could not post {entry.subject} in <#{channel}>: {problem}"
    if entry.action == DELETE_FAILING:
        problem, attempts = entry.detail.get("problem"), entry.detail.get("attempts")
        return (
            f"{when} ⚠️ Runway refused {attempts} times to delete {entry.subject} "
            f"({problem}); the bot keeps trying"
        )
    who = _who(entry.actor_id)
    looked_at = entry.detail.get(LOOKED_UP_MEMBER)
    member = None if looked_at is None else _who(int(str(looked_at)))
    if entry.action == RECORDING_FETCHED:
        return f"{when} {who} fetched the recording of a call of {member}"
    if entry.action == LOOKUP:
        whose = (
            f"the calls of {member}"
            if member is not None
            else f"the calls with **{plain(entry.subject, limit=60)}**"
        )
        return f"{when} {who} looked at {whose}"
    action = entry.action.replace(".", " ").replace("_", " ")
    return f"{when} {who}: {action} **{plain(entry.subject, limit=60)}**"


def _who(user_id: int | None) -> str:
    return {None: "the bot", FORGOTTEN_MEMBER: "a forgotten member"}.get(user_id, f"<@{user_id}>")


def _image_source_check(
    image: discord.Attachment | None, url: str | None
) -> discord.Attachment | str:
    """Exactly one of an attachment or a link, and an attachment not obviously too big.

    Whatever can be refused from the options alone is refused here, before the member
    spends time on the personality form.
    """
    if image is None and url is None:
        raise InvalidInput("The avatar needs an image: attach one, or give an https:// link.")
    if image is not None and url is not None:
        raise InvalidInput(
            "Give the avatar's image either as an attachment or as an https:// link, not both."
        )
    if image is not None:
        if image.size > MAX_IMAGE_BYTES:
            raise InvalidInput(
                f"That file is {image.size / (1024 * 1024):.1f} MB; the limit is "
                f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB. Export a smaller copy."
            )
        return image
    assert url is not None
    if not url.strip().lower().startswith("https://"):
        raise InvalidInput("The bot could not use that link: only https:// links are accepted.")
    return url


async def _image_source(source: discord.Attachment | str) -> ImageSource:
    if isinstance(source, str):
        return ImageLink(url=source)
    try:
        data = await source.read()
    except discord.HTTPException:
        raise InvalidInput(
            "Discord would not hand over the attached image; attach it again."
        ) from None
    return ImageUpload(data=data, url=source.url)


class ReviewButton(VerdictButton, prefix="avatar-review", choices=VERDICTS):
    """Approve / Reject on an avatar's review post."""

    async def pressed(self, interaction: Interaction) -> None:
        avatar = await interaction.client.services.avatars.review(
            guild_id_of(interaction), actor_of(interaction), self.target_id, approve=self.approve
        )
        verdict = "approved" if self.approve else "rejected"
        await interaction.response.edit_message(
            content=f"{plain(avatar.name)} was {verdict} by {interaction.user.mention}.",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: RunwayCharactersBot) -> None:
    bot.add_dynamic_items(
        ReviewButton, avatar_say.CancelButton, avatar_say.LinkButton, avatar_say.ReviewButton
    )
    tracker = bot.services.videos.tracker
    tracker.delivery = avatar_say.ChannelDelivery(bot)

    async def tell(video: Video, told: bool) -> None:
        await avatar_say.tell_member(bot, video, told)

    tracker.on_ended(tell)
    await bot.add_cog(AvatarCog(bot))
