"""The case list page at 100,000 cases in SQLite, four coordinators at once.

A real ``theodoi web`` process serves a bulk-built database (bench/dataset.py); four
client threads, each logged in through the real login form, open the case list with
the filters and sorts coordinators use (state, unit, search, deadline, name) and
follow the "next page" links (keyset cursors) a few pages deep. Every answer is
checked (status 200, the total count shown); the figures are the p50 and p95 latency
of one page, against the one-second budget of the issue.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import PYTHON, REPO, check, figure, say, scratch, sized, sqlite_url
from bench.dataset import build_sqlite, simple_plan

CLIENTS = 4
BUDGET_MS = 1000.0
QUERIES = (
    "/cases",
    "/cases?sort=deadline",
    "/cases?state=overdue&sort=deadline",
    "/cases?state=report_due",
    "/cases?unit=U07",
    "/cases?q=van",
    "/cases?sort=name",
    "/cases?workflow=trip&category=unit&sort=name",
)
DEPTH = 3  # pages followed per query
ROUNDS = 3
PASSWORD = "bench-password-123"
_NEXT = re.compile(r'href="(/cases\?[^"]*after=[^"]+)" rel="next"')
_TOTAL = re.compile(r'id="total">[^<]*?([\d.,]+)')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(db: Path, cases: int) -> None:
    build_sqlite(db, simple_plan(cases, 0))
    from kernel.settings import load_config
    from storage.db import Database
    from web import users

    config = load_config(None, {"THEODOI_STORAGE__URL": sqlite_url(db)})
    database = Database(config.storage.url)
    try:
        from datetime import datetime

        with database.session() as session:
            users.add_user(session, "bench@snv.vn", "coordinator",
                           now=datetime(2025, 6, 13), password=PASSWORD)
    finally:
        database.dispose()


def _serve(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("THEODOI_")},
        "THEODOI_STORAGE__URL": sqlite_url(db),
        "THEODOI_WEB__SECRET_KEY": "bench-secret-key-not-for-production",
    }
    cmd = [PYTHON, "-c", "from cli.commands import main_entry; main_entry()", "web", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"theodoi web exited: {log.read_text()[-2000:]}")
        try:
            # /healthz, not /readyz: no worker sweeps here, so readiness would say "lagging"
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("theodoi web did not become ready")


def _client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": "bench@snv.vn", "password": PASSWORD,
                                         "csrf_token": token, "next": "/"})
    check(answer.status_code in (200, 303), f"login failed: {answer.status_code}")
    return client


def _walk(client: httpx.Client, cases: int, times: list[float], errors: list[str]) -> None:
    for _ in range(ROUNDS):
        for query in QUERIES:
            url: str | None = query
            for _page in range(DEPTH):
                if url is None:
                    break
                start = time.perf_counter()
                answer = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                if answer.status_code != 200:
                    errors.append(f"{url}: {answer.status_code}")
                    return
                total = _TOTAL.search(answer.text)
                if query == "/cases" and (not total or _int(total.group(1)) != cases):
                    errors.append(f"{url}: total {total.group(1) if total else '?'} != {cases}")
                found = _NEXT.search(answer.text)
                url = found.group(1).replace("&amp;", "&") if found else None


def _int(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def run(scale: float) -> list[dict[str, Any]]:
    cases = sized(100_000, scale, minimum=1_000)
    with scratch("web") as folder:
        db = folder / "web.db"
        say(f"web: building {cases:,} cases")
        _prepare(db, cases)
        port = _free_port()
        proc = _serve(db, port, folder / "server.log")
        try:
            base = f"http://127.0.0.1:{port}"
            clients = [_client(base) for _ in range(CLIENTS)]
            for client in clients:  # warm the page cache and the templates once
                client.get("/cases")
            times: list[list[float]] = [[] for _ in clients]
            errors: list[str] = []
            threads = [
                threading.Thread(target=_walk, args=(c, cases, times[i], errors))
                for i, c in enumerate(clients)
            ]
            say(f"web: {CLIENTS} clients × {ROUNDS * len(QUERIES) * DEPTH} pages")
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for client in clients:
                client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        check(not errors, "; ".join(errors[:5]))
        flat = sorted(t for per in times for t in per)
        check(len(flat) >= CLIENTS * len(QUERIES), f"only {len(flat)} pages measured")
        p50 = statistics.median(flat)
        p95 = flat[min(len(flat) - 1, int(round(0.95 * (len(flat) - 1))))]
    label = f"{cases:,} cases, SQLite, {CLIENTS} concurrent clients"
    goal = "well under 1 s per page"
    return [
        figure("web_case_list_p50", p50, "ms", "budget: 1 s per page", BUDGET_MS,
               goal=goal, met=p50 < BUDGET_MS, note=label),
        figure("web_case_list_p95", p95, "ms", "budget: 1 s per page", BUDGET_MS,
               goal=goal, met=p95 < BUDGET_MS, note=f"{label}; {len(flat)} pages"),
    ]


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1), indent=2))
