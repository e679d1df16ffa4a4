"""What `/avatar say` takes: recordings checked by their bytes and measured by decoding them,
texts made speakable, and estimates on the long side."""

from __future__ import annotations

import io
import wave

import pytest

from bot.errors import InvalidInput
from bot.runway.sandbox.clip_maker import render_clip
from bot.services.audio import MAX_AUDIO_SECONDS, check_audio, clip_seconds, sniff
from bot.services.video_text import clean_script, speaking_seconds
from tests.support.media import tone


@pytest.mark.parametrize(
    ("kind", "mime"),
    [("ogg", "audio/ogg"), ("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("m4a", "audio/mp4")],
)
def test_each_kind_of_recording_is_known_by_its_bytes_and_measured(kind: str, mime: str) -> None:
    checked = check_audio(tone(3.0, kind))
    assert checked.mime == mime
    assert checked.seconds == pytest.approx(3.0, abs=0.05)
    assert checked.whole_seconds == 3 or (kind == "m4a" and checked.whole_seconds == 4)


def _wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(1)
        sound.setframerate(2000)
        sound.writeframes(bytes([128]) * int(2000 * seconds))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The audio file is empty."),
        (b"%PDF-1.7 quarterly report", "That file is a PDF document, not a recording."),
        (b"\x89PNG\r\n\x1a\n....", "That file is a PNG image, not a recording."),
        (b"hello there", "That file is not a recording the bot can use."),
        (b"OggS" + bytes(13_000_000), "The audio file is 13.0 MB; the limit is 12.0 MB."),
        (b"OggS\x00garbage that is no ogg stream at all", "damaged or cut short"),
        (_wav(MAX_AUDIO_SECONDS + 60), "The recording is longer than 5 minutes (6 minutes)"),
        (_wav(0.1), "too short to speak anything"),
    ],
)
def test_bad_recordings_are_refused_with_their_reason(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_audio(data)
    assert message in refused.value.user_message


def test_a_recording_is_judged_by_its_bytes_not_its_name() -> None:
    assert sniff(tone(1.0, "wav")) == ("wav", "audio/wav")
    assert sniff(b"%PDF named voice.ogg") is None


def test_a_finished_video_is_measured_from_its_file() -> None:
    clip = render_clip(seconds=2.5, image=None, audio=None, seed="t")
    assert clip_seconds(clip) == pytest.approx(2.5, abs=0.15)
    with pytest.raises(InvalidInput):
        clip_seconds(tone(1.0, "ogg"))


@pytest.mark.parametrize(
    ("typed", "spoken"),
    [
        ("Hello **world**!", "Hello world!"),
        ("Hi <@123> and <@&45> in <#67>, @everyone", "Hi and in ,"),
        ("> Quoted\n# Title\nsee [the docs](https://example.org)", "Quoted Title see the docs"),
        ("Party <:tada:123456>", "Party tada"),
    ],
)
def test_texts_are_spoken_without_mentions_and_markup(typed: str, spoken: str) -> None:
    assert clean_script(typed) == spoken


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "The text is empty"),
        (" \n\t ", "The text is empty"),
        ("x" * 5_001, "The text is 5,001 characters; Runway speaks at most 5,000."),
        ("<@1> <@&2> **__~~~~__** @here", "nothing to say once mentions"),
    ],
)
def test_texts_that_cannot_be_spoken_are_refused(typed: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_script(typed)
    assert message in refused.value.user_message


def test_estimates_err_on_the_long_side_for_every_script() -> None:
    words = "one two three four five six seven eight nine ten " * 10  # 100 words
    assert speaking_seconds(words) >= 100 / 2.5  # the sandbox's (and a brisk voice's) pace
    assert speaking_seconds("你好" * 100) >= 200 / 4
    assert speaking_seconds("x" * 5_000) <= 420
