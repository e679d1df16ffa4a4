"""Shard notation, shard routing and IDENTIFY pacing (`bot/sharding.py`)."""

from __future__ import annotations

import asyncio

import pytest

from bot.sharding import (
    IDENTIFY_WINDOW_SECONDS,
    IdentifyPacer,
    check_shard_ids_exist,
    describe_shard_ids,
    parse_shard_ids,
    shard_of,
)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0-3", [0, 1, 2, 3]),
        ("0,2,5", [0, 2, 5]),
        ("0-3,8", [0, 1, 2, 3, 8]),
        (" 8 , 0 - 1 ", [0, 1, 8]),
        ("7", [7]),
        ("2-2", [2]),
    ],
)
def test_ids_ranges_and_mixes_are_read(text: str, ids: list[int]) -> None:
    assert [shard for span in parse_shard_ids(text) for shard in span] == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "'a' is not a shard id or a range"),
        ("0;1", "'0;1' is not a shard id"),
        ("-1", "'-1' is not a shard id"),
        ("1.5", "'1.5' is not a shard id"),
        ("0-", "'0-' is not a shard id"),
        ("0,,1", "an empty entry between commas"),
        ("0-3,", "an empty entry between commas"),
        ("3-1", "the range '3-1' runs backwards (write 1-3)"),
        ("0,0", "shard 0 is named twice ('0' and '0')"),
        ("0-3,2", "shard 2 is named twice ('0-3' and '2')"),
        ("4-7,0-4", "shard 4 is named twice ('0-4' and '4-7')"),
        ("0-9,12,3-4", "shard 3 is named twice ('0-9' and '3-4')"),
    ],
)
def test_malformed_and_overlapping_ids_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard_ids(text)


def test_ids_beyond_the_count_are_named() -> None:
    check_shard_ids_exist(parse_shard_ids("0-3"), 4)
    with pytest.raises(ValueError, match=r"^shard 4 does not exist when SHARD_COUNT is 4 \("):
        check_shard_ids_exist(parse_shard_ids("2-4"), 4)
    with pytest.raises(ValueError, match=r"^shards 4-5, 9 do not exist .* \(the shards are 0-3\)"):
        check_shard_ids_exist(parse_shard_ids("0-5,9"), 4)
    with pytest.raises(ValueError, match=r"\(the only shard is 0\)"):
        check_shard_ids_exist(parse_shard_ids("1"), 1)


def test_a_huge_range_is_judged_without_listing_it() -> None:
    with pytest.raises(ValueError, match="shards 4-999999999 do not exist"):
        check_shard_ids_exist(parse_shard_ids("0-999999999"), 4)


def test_ids_are_described_the_way_operators_write_them() -> None:
    assert describe_shard_ids([8, 0, 1, 3, 2, 10, 11]) == "0-3, 8, 10-11"
    assert describe_shard_ids([5]) == "5"
    assert describe_shard_ids(range(4)) == "0-3"


def test_a_guild_goes_to_the_shard_discord_computes_and_dms_to_shard_0() -> None:
    # Discord's docs: shard_id = (guild_id >> 22) % num_shards.
    guild_id = 81384788765712384
    assert shard_of(guild_id, 17) == 7  # the example other Discord libraries document
    assert shard_of(guild_id, 1) == 0
    assert shard_of(None, 16) == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_shards_in_different_buckets_identify_at_once() -> None:
    clock = FakeClock()
    pacer = IdentifyPacer(4, clock=clock, sleep=clock.sleep)
    for shard in range(4):
        await pacer.wait_turn(shard)
    assert clock.sleeps == []


async def test_a_bucket_identifies_once_per_window() -> None:
    clock = FakeClock()
    pacer = IdentifyPacer(2, clock=clock, sleep=clock.sleep)
    await pacer.wait_turn(0)
    await pacer.wait_turn(1)
    clock.now += 1.0
    await pacer.wait_turn(2)  # bucket 0 again, 1 s after shard 0
    assert clock.sleeps == [IDENTIFY_WINDOW_SECONDS - 1.0]
    await pacer.wait_turn(3)  # bucket 1: its window is over by now
    assert clock.sleeps == [IDENTIFY_WINDOW_SECONDS - 1.0]


async def test_concurrent_identifies_in_one_bucket_take_turns() -> None:
    """Shards re-identifying together after an outage must not slip into one window."""
    clock = FakeClock()
    pacer = IdentifyPacer(1, clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def identify(shard: int) -> None:
        await pacer.wait_turn(shard)
        starts.append(clock.now)

    await asyncio.gather(*(identify(shard) for shard in range(3)))
    assert starts == [100.0, 105.0, 110.0]


def test_a_max_concurrency_below_one_still_paces() -> None:
    assert IdentifyPacer(0).buckets == 1
