"""The web app: Starlette routes over :class:`tablelog.ui.pages.Viewer` (GET only).

Every response carries a strict Content-Security-Policy (scripts and styles from this
server only, no inline script, nothing from elsewhere), ``nosniff`` and
``no-referrer``. Requests whose Host header is not the address we serve (a DNS
rebinding page) are refused. Media blobs are served by digest, checked against it,
with a ``sandbox`` policy of their own, so an HTML cell or an SVG opened directly can
run no script and reach nothing.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import polars as pl
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tablelog.errors import InvalidNameError, NotFoundError, TablelogError
from tablelog.format import paths
from tablelog.objects.cas import digest_of
from tablelog.ui.pages import BadRequest, Page, Redirect, Viewer, esc

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
#: Media blobs (an HTML cell in its iframe, an image opened in a tab): no script, no
#: requests except its own inline images and styles.
BLOB_CSP = "sandbox; default-src 'none'; img-src data:; media-src 'self'; style-src 'unsafe-inline'"
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
_MEDIA_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "bmp": "image/bmp", "svg": "image/svg+xml",
    "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac",
    "m4a": "audio/mp4", "mp4": "video/mp4", "webm": "video/webm", "ogv": "video/ogg",
    "mov": "video/quicktime", "gif87": "image/gif",
    "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8", "json": "application/json",
}  # fmt: skip
_STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
MAX_BLOB_BYTES = 512 * 1024 * 1024


def _layout(page: Page, root_url: str) -> str:
    crumbs = "".join(
        f' <span class="sep">›</span> <a href="{esc(url)}">{esc(name)}</a>'
        if url
        else f' <span class="sep">›</span> <span>{esc(name)}</span>'
        for name, url in page.crumbs
    )
    attrs = "".join(f' {k}="{esc(v)}"' for k, v in (page.attrs or {}).items())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(page.title)} · tablelog</title>"
        '<link rel="stylesheet" href="/static/ui.css">'
        '<script src="/static/ui.js" defer></script></head>'
        f'<body data-status="{page.status}"{attrs}><header><a href="/" class="home">tablelog</a>'
        f'<span class="root" title="root">{esc(root_url)}</span>{crumbs}</header>'
        f"<main>{page.body}</main></body></html>"
    )


def create_app(root: str, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The app for ``root`` (a folder or a store URL; S3 settings from the usual AWS_*
    variables, as everywhere in tablelog)."""
    viewer = Viewer.open(root)

    def respond(page: Page) -> Response:
        return HTMLResponse(_layout(page, viewer.store.url), page.status, headers=_HEADERS)

    def failure(status: int, title: str, text: str) -> Response:
        return respond(Page(title, f'<h1>{esc(title)}</h1><p class="error">{esc(text)}</p>',
                            status=status))  # fmt: skip

    async def run(fn: Any, *args: Any) -> Response:
        try:
            page = await run_in_threadpool(fn, *args)
        except Redirect as r:
            return RedirectResponse(r.url, status_code=303, headers=_HEADERS)
        except NotFoundError as e:
            return failure(404, "Not found", str(e))
        except (InvalidNameError, BadRequest) as e:
            return failure(400, "Bad request", str(e))
        except (TablelogError, pl.exceptions.PolarsError, OSError, ValueError) as e:
            text = " ".join(str(e).split("\n\n", 1)[0].split())
            return failure(500, "Cannot read this", f"{type(e).__name__}: {text}")
        return respond(page)

    async def projects(request: Request) -> Response:
        return await run(viewer.projects, request.query_params)

    def query(request: Request) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in request.query_params.multi_items():
            out.setdefault(k, []).append(v)
        return out

    async def runs(request: Request) -> Response:
        return await run(viewer.runs, request.path_params["project"], query(request))

    async def run_page(request: Request) -> Response:
        p = request.path_params
        return await run(viewer.run, p["project"], p["run"], query(request))

    async def table(request: Request) -> Response:
        p = request.path_params
        return await run(viewer.table, p["project"], p["run"], p["key"], query(request))

    async def charts(request: Request) -> Response:
        return await run(viewer.charts, request.path_params["project"], query(request))

    async def compare(request: Request) -> Response:
        return await run(viewer.compare, request.path_params["project"], query(request))

    async def blob(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            key = paths.media_blob_key(name)
        except InvalidNameError as e:
            return failure(400, "Bad request", str(e))
        try:
            data = await run_in_threadpool(viewer.store.get, key)
        except NotFoundError:
            return failure(404, "Not found", f"no media blob {name} in {viewer.store.url}")
        if len(data) > MAX_BLOB_BYTES or digest_of(data) != name.split(".", 1)[0]:
            return failure(500, "Corrupt media", f"media blob {name} does not match its digest")
        ext = name.split(".", 1)[1]
        headers = {
            "Content-Security-Policy": BLOB_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=31536000, immutable",
        }
        media_type = _MEDIA_TYPES.get(ext)
        if media_type is None:
            media_type = "application/octet-stream"
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(data, media_type=media_type, headers=headers)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return failure(404, "Not found", f"no static file {name}")
        data = resources.files("tablelog.ui").joinpath("static", name).read_bytes()
        headers = {**_HEADERS, "Cache-Control": "no-cache"}
        return Response(data, media_type=_STATIC[name], headers=headers)

    routes = [
        Route("/", projects, methods=["GET", "HEAD"]),
        Route("/p/{project}", runs, methods=["GET", "HEAD"]),
        Route("/p/{project}/charts", charts, methods=["GET", "HEAD"]),
        Route("/p/{project}/compare", compare, methods=["GET", "HEAD"]),
        Route("/r/{project}/{run}", run_page, methods=["GET", "HEAD"]),
        Route("/t/{project}/{run}/{key:path}", table, methods=["GET", "HEAD"]),
        Route("/blob/{name}", blob, methods=["GET", "HEAD"]),
        Route("/static/{name}", static, methods=["GET", "HEAD"]),
    ]
    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))

    async def not_found(request: Request, exc: Exception) -> Response:
        return failure(404, "Not found", f"no page {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        resp = failure(405, "Method not allowed", "this viewer is read-only: GET only")
        resp.headers["Allow"] = "GET, HEAD"
        return resp

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.root_url = viewer.store.url
    return app


__all__ = ["BLOB_CSP", "CSP", "create_app"]
