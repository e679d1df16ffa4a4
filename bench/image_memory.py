"""Memory while checking and packing large reference images: peaks, and what stays after.

A subject process imports the whole bot (so its baseline is a bot's, ~60 MB) and then
prepares N copies of one image at once exactly as `/avatar create` does: each through the
bot's worker pool (`bot.workers`, two at a time, libvips in a child process) and then into
the data: URI sent to Runway. This process samples the resident memory of the subject and
all of its children every 5 ms and prints, per run: the baseline before, the peak above it,
and what is left above it one second after the last image is done.

The like-for-like comparison is the approach the bot used before, measured the same way in
the same run: Pillow decoding in the bot's own process (`Image.open().load()`, then
`convert("RGB")` and a LANCZOS resize to fit the 5 MB URI), N threads at once.

The image is generated here (never committed): 6000x6000 RGB, its top rows full-colour
noise so that it compresses to ~17.5 MB like a noisy photo, the rest a gradient.

    python -m bench.image_memory [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

MIB = 1024 * 1024
SIDE = 6000
NOISY_ROWS = 975  # tuned so the PNG is ~17.5 MB
GOALS = {1: 150, 3: 400}  # MB above baseline at peak
SETTLE_SECONDS = 1.0


def make_image(path: Path) -> None:
    import pyvips  # noqa: PLC0415

    def noise() -> pyvips.Image:
        return pyvips.Image.gaussnoise(SIDE, NOISY_ROWS, sigma=40, mean=128).cast("uchar")

    noisy = noise().bandjoin([noise(), noise()])
    ramp = pyvips.Image.xyz(SIDE, SIDE - NOISY_ROWS)[0].linear(255 / SIDE, 0).cast("uchar")
    image = noisy.join(ramp.bandjoin([ramp, ramp]), "vertical")
    path.write_bytes(image.pngsave_buffer(compression=6))


# The subject: runs in its own process, driven over stdin/stdout.


def subject(mode: str, image: Path, count: int) -> None:
    import bot.app  # noqa: F401, PLC0415 - the whole bot, so the baseline is a bot's
    from bot.runway import catalog  # noqa: PLC0415

    print("ready", flush=True)
    sys.stdin.readline()
    data = image.read_bytes()
    if mode == "worker":
        from bot.services.images import encode  # noqa: PLC0415
        from bot.workers.pool import WorkerPool  # noqa: PLC0415

        async def run_all(image: bytes) -> list[str]:
            pool = WorkerPool(2)

            async def one() -> str:
                prepared = await pool.run("image", image, catalog.REFERENCE_DATA_URI_MAX)
                return encode(prepared.mime, prepared.payload)

            return await asyncio.gather(*(one() for _ in range(count)))

        uris = asyncio.run(run_all(data))
    else:
        uris = pillow_in_process(data, count, catalog.REFERENCE_DATA_URI_MAX)
    assert all(len(uri) <= catalog.REFERENCE_DATA_URI_MAX for uri in uris)
    del uris, data
    print("done", flush=True)
    sys.stdin.readline()


def pillow_in_process(data: bytes, count: int, limit: int) -> list[str]:
    """What the bot did before: decode fully in-process, in threads, then scale to fit."""
    from PIL import Image  # noqa: PLC0415

    results: list[str] = []

    def one() -> None:
        with Image.open(io.BytesIO(data)) as source:
            source.load()
            picture = source.convert("RGB")
        scale = 1.0
        while True:
            scale *= 0.8
            size = (int(picture.width * scale), int(picture.height * scale))
            buffer = io.BytesIO()
            picture.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=88)
            uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
            if len(uri) <= limit:
                results.append(uri)
                return

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# The measuring side.


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            pages = int(Path(f"/proc/{current}/statm").read_text().split()[1])
        except (OSError, IndexError):
            pages = 0
        total += pages * os.sysconf("SC_PAGE_SIZE")
        stack.extend(children.get(current, []))
    return total


async def measure(mode: str, image: Path, count: int) -> tuple[float, float, float]:
    """(baseline MB, peak above baseline MB, left above baseline MB) for one run."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.image_memory", "--subject", mode, str(image), str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    await asyncio.sleep(0.5)
    baseline = tree_rss(proc.pid)
    peak = baseline
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    done = asyncio.create_task(proc.stdout.readline())
    while not done.done():
        peak = max(peak, tree_rss(proc.pid))
        await asyncio.sleep(0.005)
    assert (await done).strip() == b"done"
    await asyncio.sleep(SETTLE_SECONDS)
    after = tree_rss(proc.pid)
    proc.stdin.write(b"bye\n")
    await proc.stdin.drain()
    await proc.wait()
    return baseline / MIB, (peak - baseline) / MIB, (after - baseline) / MIB


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} (min {min(values):.1f}, max {max(values):.1f})"


async def main(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "noisy.png"
        make_image(image)
        print(
            f"image memory: one {SIDE}x{SIDE} PNG ({SIDE * SIDE / 1e6:.0f} MP, "
            f"{image.stat().st_size / 1e6:.1f} MB), checked and packed for Runway; "
            f"RSS of the bot-like process and its children, sampled every 5 ms; "
            f"{repeat} runs each, median (min, max)"
        )
        for mode, label in (("worker", "ours (libvips in workers)"), ("pillow", "before (Pillow)")):
            for count in (1, 3):
                runs = [await measure(mode, image, count) for _ in range(repeat)]
                base, peak, left = (list(column) for column in zip(*runs, strict=True))
                verdict = ""
                if mode == "worker":
                    ok = max(peak) <= GOALS[count] and max(left) <= 20
                    verdict = (
                        f"  goal +{GOALS[count]} MB peak, +20 MB after: {'met' if ok else 'MISSED'}"
                    )
                print(
                    f"  {label:27} {count} at once: baseline {spread(base)} MB   "
                    f"peak +{spread(peak)} MB   after +{spread(left)} MB{verdict}"
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--subject":
        subject(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    began = time.monotonic()
    asyncio.run(main(parser.parse_args().repeat))
    print(f"  ({time.monotonic() - began:.0f} s)")
