"""The voices an avatar can speak with, for autocomplete and validation.

Runway describes each preset voice in its avatar answers (`voice.name`, `voice.description`)
but offers no endpoint that lists them. The bot remembers the descriptions Runway gives, so
autocomplete shows Runway's own words for every voice this bot has used, and a plain label
for the rest, never a description the bot made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.clip import clip
from bot.errors import InvalidInput
from bot.runway.dialects import DialectRules
from bot.runway.models import Voice
from bot.storage import AppStateRepository

_KEY: Final = "voice_description:"
VOICE_ID_MAX: Final = 64  # the longest voice id the bot takes (the seed description sets none)
_ECHO: Final = 40  # of an unknown voice, quoted back in the refusal


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    preset_id: str
    label: str


class VoiceCatalog:
    def __init__(self, rules: DialectRules, state: AppStateRepository) -> None:
        self._rules = rules
        self._state = state
        self._descriptions: dict[str, str] = {}

    async def load(self) -> None:
        """Read remembered descriptions once at start-up; autocomplete then never hits SQL."""
        for preset in self._rules.avatar_voice_presets or ():
            description = await self._state.get(_KEY + preset)
            if description:
                self._descriptions[preset] = description

    async def remember(self, voice: Voice | None) -> None:
        if voice is None or not voice.preset_id or not voice.description:
            return
        if self._descriptions.get(voice.preset_id) != voice.description:
            self._descriptions[voice.preset_id] = voice.description
            await self._state.set(_KEY + voice.preset_id, voice.description)

    def validate(self, preset_id: str) -> str:
        value = preset_id.strip().lower()
        presets = self._rules.avatar_voice_presets
        if presets is None:
            if not value or len(value) > VOICE_ID_MAX:
                raise InvalidInput(
                    f"Give the voice preset's id (at most {VOICE_ID_MAX} characters)."
                )
            return value
        if value not in presets:
            raise InvalidInput(
                f"There is no voice called {clip(preset_id, _ECHO)!r}. Pick one from the list "
                f"Discord shows as you type (e.g. {', '.join(presets[:4])})."
            )
        return value

    def search(self, text: str, *, limit: int = 25) -> list[VoiceChoice]:
        """Voices matching `text` (prefix matches first); never raises, at most `limit`."""
        presets = self._rules.avatar_voice_presets
        needle = text.strip().lower()
        if presets is None:
            if not needle or len(needle) > VOICE_ID_MAX:
                return []  # nothing to offer: validate() would refuse it
            return [VoiceChoice(needle, f"{clip(needle, _ECHO)} (custom preset id)")]
        matches = sorted(
            (preset for preset in presets if needle in preset),
            key=lambda preset: (not preset.startswith(needle), preset),
        )
        return [VoiceChoice(preset, self.label(preset)) for preset in matches[:limit]]

    def label(self, preset_id: str) -> str:
        description = self._descriptions.get(preset_id)
        name = preset_id.title()
        text = f"{name} — {description}" if description else f"{name} (Runway preset voice)"
        return clip(text, 100)
