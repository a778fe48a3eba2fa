"""``/mail``: the messages the local mail catcher caught (``make run``), so a new user
sees what units and leaders would receive. Read-only; staff and leaders only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from web.deps import READERS, NotFoundError, Principal, render, require

router = APIRouter(include_in_schema=False)


def _catcher() -> Any:
    try:
        from notifications import catcher
    except ImportError:
        return None
    return catcher


@router.get("/mail")
def mail_list(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    catcher = _catcher()
    messages = catcher.list_messages() if catcher is not None else None
    return render(request, "mail_list.html", {"messages": messages})


@router.get("/mail/{message_id}")
def mail_view(
    request: Request, message_id: str, principal: Principal = Depends(require(*READERS))
) -> Response:
    catcher = _catcher()
    if catcher is None:
        raise NotFoundError()
    message = catcher.show_message(message_id)
    if message is None:
        raise NotFoundError()
    return render(request, "mail_view.html", {"m": message})
