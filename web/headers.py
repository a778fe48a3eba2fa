"""Security headers on every answer the web app gives (pages, API, files, errors).

* ``Content-Security-Policy``: scripts only from this site (no inline script: the API
  documentation's initializer is a static file), no plugins, no framing by other
  sites (``frame-ancestors 'none'``), forms only to this site. Inline ``style``
  attributes and the ``<style>`` of pygal charts and e-mail previews stay allowed;
  they cannot run code.
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (older browsers),
  ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin``.
* ``Cache-Control: no-store`` on every answer but the static assets: pages, API answers
  and downloads carry people's data and must not stay in a shared or back-button cache.
* ``Strict-Transport-Security`` only when ``[web] hsts`` is on (a deployment served over
  HTTPS); ``[web] secure_cookies`` adds ``Secure`` to the cookies (web/security.py).

A header a route already set (a download's own ``Cache-Control``) is left as it is.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"
CACHEABLE = ("/static/",)


def security_headers(path: str, *, hsts: bool) -> dict[str, str]:
    """The headers an answer to ``path`` carries."""
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if not path.startswith(CACHEABLE):
        headers["Cache-Control"] = "no-store"
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeadersMiddleware:
    """Adds :func:`security_headers` to every HTTP answer."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = security_headers(scope.get("path", ""), hsts=self.hsts)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_wrapper)
