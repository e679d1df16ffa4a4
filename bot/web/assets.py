"""The join page's files: its templates, its own script and style, and livekit-client.

livekit-client comes from the npm package that the set-up command installs (`npm ci`),
never from a CDN, so a page never depends on a third party being up or honest. Every file
is read once at start-up: a request never touches the disk, and the 600 kB browser build
is gzipped once rather than on every request from a phone.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import logging
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiohttp import web

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent
STATIC_ROOT = PACKAGE_ROOT / "static"
TEMPLATES_ROOT = PACKAGE_ROOT / "templates"
# The source checkout this module lives in (two levels above bot/web/).
REPO_ROOT = PACKAGE_ROOT.parent.parent
# The UMD build defines the global `LivekitClient`; it is minified and needs no bundler.
LIVEKIT_BUILD = Path("node_modules/livekit-client/dist/livekit-client.umd.js")
VENDOR_PATH = "/static/vendor/livekit-client.js"

_IMMUTABLE = "public, max-age=31536000, immutable"
# The page's own files change with the bot; the browser revalidates them by ETag.
_REVALIDATE = "no-cache"


def find_livekit_dist(roots: Iterable[Path] = ()) -> Path | None:
    """Where `npm ci` put the livekit-client browser build, or None when it has not run.

    Looks under each of `roots` (default: the working directory, then the source checkout),
    which covers both `make run` from the checkout and an image whose working directory
    holds package.json.
    """
    for root in roots or (Path.cwd(), REPO_ROOT):
        candidate = root / LIVEKIT_BUILD
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Asset:
    """One file ready to serve, with its gzip form when that is smaller."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    cache_control: str

    @classmethod
    def load(cls, path: Path, *, cache_control: str) -> Asset:
        body = path.read_bytes()
        squeezed = gzip.compress(body, compresslevel=9, mtime=0)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return cls(
            body=body,
            gzipped=squeezed if len(squeezed) < len(body) else None,
            content_type=content_type,
            etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"',
            cache_control=cache_control,
        )

    @property
    def version(self) -> str:
        """A short content hash for cache-busting URLs."""
        return self.etag.strip('"')[:12]

    def respond(self, request: web.Request) -> web.Response:
        headers = {
            "Cache-Control": self.cache_control,
            "ETag": self.etag,
            "Vary": "Accept-Encoding",
        }
        if self.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = self.body
        if self.gzipped is not None and _accepts_gzip(request):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        charset = "utf-8" if self.content_type.startswith("text/") else None
        return web.Response(
            body=body, content_type=self.content_type, charset=charset, headers=headers
        )


def _accepts_gzip(request: web.Request) -> bool:
    for item in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@dataclass(frozen=True, slots=True)
class LivekitBundle:
    """The livekit-client build and its version (for the URL, so upgrades bust caches)."""

    asset: Asset
    version: str

    @classmethod
    def load(cls, build: Path) -> LivekitBundle:
        package = json.loads((build.parent.parent / "package.json").read_text("utf-8"))
        return cls(Asset.load(build, cache_control=_IMMUTABLE), str(package["version"]))

    @property
    def url(self) -> str:
        return f"{VENDOR_PATH}?v={self.version}"


class PageAssets:
    """Templates and static files for the join routes, loaded once."""

    def __init__(self, static_root: Path, livekit_build: Path | None) -> None:
        self.static: dict[str, Asset] = {
            path.name: Asset.load(path, cache_control=_REVALIDATE)
            for path in sorted(static_root.iterdir())
            if path.is_file()
        }
        self.livekit = LivekitBundle.load(livekit_build) if livekit_build is not None else None
        self._templates = {
            path.stem: Template(path.read_text("utf-8")) for path in TEMPLATES_ROOT.glob("*.html")
        }

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static[name].version}"

    def render(self, template: str, values: Mapping[str, str | int]) -> str:
        """Fill a template; every value is HTML-escaped, so no caller can inject markup."""
        values = {"css_url": self.static_url("join.css"), **values}
        escaped = {key: html.escape(str(value), quote=True) for key, value in values.items()}
        return self._templates[template].substitute(escaped)
