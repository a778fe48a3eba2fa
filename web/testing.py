"""A real web server in a background thread, for tests and demos driven by a browser.

``LiveServer(app)`` serves ``create_app(app)`` with uvicorn on a free local port; the
test keeps the App (and its ManualClock) in hand, so it can move time and fire timers
between the requests it makes over real HTTP.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from web.app import create_app
from web.security import CSRF_FIELD

CSRF_INPUT = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(app),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=30)


def csrf_of(html: str) -> str:
    """The CSRF token in a page's form."""
    match = CSRF_INPUT.search(html)
    if match is None:
        raise AssertionError("no CSRF token in the page")
    return match.group(1)


def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    """Log ``client`` in through the real form (CSRF token included)."""
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"email": email, "password": password, CSRF_FIELD: token, "next": "/"}
    )
