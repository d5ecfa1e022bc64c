"""The web client's static server (protocol 1.1 section 14): the built `clients/web/dist`,
the SDK as one ES module at `/parley.js`, and `/config.json` telling the page where the APIs are.

Only files under the root are served (no directory listings, nothing outside it). When the
client is not built (no Node on this machine), every page says how to build it instead.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from aiohttp import web

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley: web client not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The web client is not built</h1>
<p>Build it with <code>make web</code> (it needs Node 20 or later and npm), then reload this page.
The HTTP API is at <a href="{http_url}/health">{http_url}</a>.</p>
</body></html>
"""

# Long-lived caching only for Vite's content-hashed assets; everything else is revalidated.
_IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json"}


def origins(port: int) -> list[str]:
    """The web client's origins for `port`: on 127.0.0.1 and on localhost (section 14)."""
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


class WebServer:
    """Serves the web client from `root` and hands it the API URLs."""

    def __init__(
        self, root: Path, *, http_url: str, ws_url: str, storage_url: str | None = None
    ) -> None:
        self.root = root.resolve()
        self.http_url = http_url
        self.ws_url = ws_url
        # Where presigned upload and download links point (the local S3): the page posts
        # files there and shows image previews from there.
        self.storage_url = storage_url

    @property
    def built(self) -> bool:
        """Whether `root` holds a built client (its index page)."""
        return (self.root / "index.html").is_file()

    def app(self) -> web.Application:
        """The aiohttp application: `/config.json`, then files under the root."""
        app = web.Application()
        app.router.add_get("/config.json", self.config)
        app.router.add_route("*", "/{tail:.*}", self.serve)
        return app

    def _headers(self) -> dict[str, str]:
        # The page talks to the two APIs and to storage (attachments' presigned links) only;
        # media comes from the camera (no URL at all).
        storage = f" {self.storage_url}" if self.storage_url else ""
        csp = (
            "default-src 'self'; "
            f"connect-src 'self' {self.http_url} {self.ws_url}{storage}; "
            f"img-src 'self' data: blob:{storage}; media-src 'self' blob:; "
            "style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
        return {
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }

    async def config(self, request: web.Request) -> web.Response:
        """`{httpUrl, wsUrl}` for the page (never cached: ports change between runs)."""
        body = json.dumps({"httpUrl": self.http_url, "wsUrl": self.ws_url})
        headers = {**self._headers(), "Cache-Control": "no-store"}
        return web.Response(body=body, content_type="application/json", headers=headers)

    def _file(self, path: str) -> Path | None:
        """The file for URL path `path` under the root, or None (absent, or outside it)."""
        relative = path.lstrip("/") or "index.html"
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """A file of the built client (GET and HEAD only)."""
        if request.method not in ("GET", "HEAD"):
            return web.Response(
                status=405, text="Method Not Allowed", headers={"Allow": "GET, HEAD"}
            )
        if not self.built:
            if request.path in ("/", "/index.html"):
                page = NOT_BUILT.format(http_url=self.http_url)
                return web.Response(status=503, text=page, content_type="text/html")
            return web.Response(status=404, text="the web client is not built: run `make web`")
        found = self._file(request.path)
        if found is None:
            return web.Response(status=404, text="Not Found", headers=self._headers())
        content_type = _TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0]
        headers = self._headers()
        headers["Content-Type"] = content_type or "application/octet-stream"
        hashed = request.path.startswith("/assets/")
        headers["Cache-Control"] = _IMMUTABLE if hashed else "no-cache"
        return web.FileResponse(found, headers=headers)
