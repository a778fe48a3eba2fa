"""Liveness, readiness and metrics (no login: they reveal nothing but up/down and
queue sizes).

The same router answers on ``theodoi run`` and ``theodoi web`` (inside the web app)
and on a worker's ``--metrics-port`` (alone, see :func:`web.app.probe_app`). What
the answers say comes from the probes the edge passes in (``cli.metrics.Metrics``):
readiness is "the database answers and the sweep lag is below ``[worker]
ready_max_lag_s``", metrics are Prometheus text with ``theodoi_`` names.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from kernel.errors import StorageError
from storage.db import Database

router = APIRouter(tags=["health"])


class Probes(Protocol):
    """What the probe routes ask (``cli.metrics.Metrics`` is one)."""

    content_type: str

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def exposition(self) -> bytes: ...


class DatabaseProbes:
    """The probes of a web app built without the edge's (tests): ready when the
    database answers; no metrics."""

    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, db: Database) -> None:
        self.db = db

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        try:
            self.db.ping()
        except StorageError as exc:
            return False, {"status": "unavailable", "database": cause_name(exc)}
        return True, {"status": "ok"}

    def exposition(self) -> bytes:
        return b""


def cause_name(exc: BaseException) -> str:
    """The driver error's class behind a wrapped one (``OperationalError``)."""
    return type(exc.__cause__ or exc).__name__


def _probes(request: Request) -> Probes:
    return request.app.state.probes


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "Ready", "content": {"application/json": {}}},
        503: {"description": "Not ready", "content": {"application/json": {}}},
    },
)
def readyz(request: Request) -> JSONResponse:
    """The database answers and the sweep keeps up (503 ``unavailable`` / ``lagging``)."""
    ready, body = _probes(request).readiness()
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    probes = _probes(request)
    return Response(probes.exposition(), media_type=probes.content_type)
