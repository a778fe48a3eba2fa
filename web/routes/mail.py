"""``/mail``: the messages the local mail catcher caught (``make run``), so a new user
sees what units and leaders would receive (HTML, text and attachments). Read-only;
staff and leaders only. The folder is read through notifications.catcher.MailStore.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kernel.errors import NotFound
from notifications.catcher import MailStore, catcher_folder
from web.deps import READERS, Principal, render, require, theodoi

router = APIRouter(include_in_schema=False)


def _store(request: Request) -> MailStore:
    return MailStore(catcher_folder(theodoi(request).config))


@router.get("/mail")
def mail_list(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    messages = _store(request).list(limit=300)
    return render(request, "mail_list.html", {"messages": messages})


@router.get("/mail/{mail_id}")
def mail_view(
    request: Request, mail_id: str, principal: Principal = Depends(require(*READERS))
) -> Response:
    try:
        detail = _store(request).show(mail_id)
    except NotFound as exc:
        raise NotFound() from exc
    return render(request, "mail_view.html", {"m": detail, "s": detail.summary})


@router.get("/mail/{mail_id}/attachments/{index}")
def mail_attachment(
    request: Request,
    mail_id: str,
    index: int,
    principal: Principal = Depends(require(*READERS)),
) -> Response:
    try:
        item = _store(request).attachment(mail_id, index)
    except NotFound as exc:
        raise NotFound() from exc
    disposition = f"attachment; filename*=UTF-8''{quote(item.filename, safe='')}"
    return Response(
        item.data,
        media_type=item.content_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )
