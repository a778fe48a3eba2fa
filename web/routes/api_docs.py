"""The API's schema and its browsable documentation, for signed-in users only.

``/api/v1/openapi.json`` answers a signed-in browser session or a valid API token;
``/api/docs`` is Swagger UI (swagger-ui-dist 5, vendored in web/apidocs/ and shipped in
the package: no CDN) with its initializer as a static file (web/static/api-docs.js), so
the page needs no inline script under the Content-Security-Policy.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from kernel.errors import LoginRequired, NotFound
from web.deps import load_principal
from web.routes.api import token_user

router = APIRouter(include_in_schema=False)

SWAGGER = Path(__file__).resolve().parent.parent / "apidocs"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
OPENAPI = "/api/v1/openapi.json"


def _signed_in(request: Request) -> None:
    if load_principal(request) is None and token_user(request) is None:
        raise LoginRequired()


@router.get(OPENAPI)
def openapi_schema(request: Request) -> Response:
    _signed_in(request)
    return JSONResponse(request.app.openapi())


@router.get("/api/docs")
def docs_page(request: Request) -> Response:
    _signed_in(request)
    title = escape(request.app.title)
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon-32x32.png"></head>
<body><div id="swagger-ui" data-openapi="{OPENAPI}"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>"""
    return HTMLResponse(html)


@router.get("/api/docs/assets/{name}")
def docs_asset(request: Request, name: str) -> Response:
    _signed_in(request)
    if name not in ASSETS:
        raise NotFound()
    return FileResponse(SWAGGER / name, media_type=ASSETS[name])
