"""One outbox row → one ``EmailMessage``: text and HTML alternatives, attachments,
headers that cannot be injected.

* From ``[smtp] from_address`` with the organisation's display name; To/Cc from
  the row, each address checked (no display names, no line breaks).
* Subject from the kind's template, one line; non-ASCII text is encoded (RFC 2047)
  by the e-mail policy, so it decodes to the exact Vietnamese.
* Date is the send instant (simulated or real) in the organisation's zone.
* Message-ID is the row's, derived from its idempotency key: a message sent twice
  after a crash carries the same Message-ID.
* Attachments: ``ics`` (the deadline, for reminders) and ``letter`` (the formal
  letter as DOCX, Decree 30 layout).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

from engine import clock
from engine.calendar import BusinessCalendar
from engine.config import Config
from notifications import ics, letters, links
from notifications.context import link_expiry, notice_context
from notifications.dates import as_date, short_date
from notifications.render import Renderer, RenderError, clean_header

# Kinds whose e-mail carries a signed link to the web submission page.
LINK_KINDS = frozenset({"reminder", "rejected", "urging_letter"})
# Attachments by kind when the row does not say (rows written before routing kept them).
DEFAULT_ATTACH = {
    "reminder": ("ics",),
    "rejected": ("ics",),
    "urging_letter": ("letter",),
    "escalation": ("letter",),
}
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9.-]+$")
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_ICS_SUMMARY = {"vi": "Hạn nộp báo cáo: {name}", "en": "Report due: {name}"}


class _MailPolicy(EmailPolicy):
    """The SMTP policy, except that non-ASCII free-text headers (Subject) are folded
    by the legacy ``email.header.Header``: the modern folder can drop the space
    between two encoded-words at a fold (``về việc đôn đốc`` arrived as
    ``về việcđôn đốc``), since whitespace between encoded-words is not text."""

    def fold(self, name: str, value: Any) -> str:
        if name.lower() in _FREE_TEXT and not str(value).isascii():
            return self._legacy_fold(name, str(value))
        return super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in _FREE_TEXT and not str(value).isascii():
            return self._legacy_fold(name, str(value)).encode("ascii")
        return super().fold_binary(name, value)

    def _legacy_fold(self, name: str, value: str) -> str:
        header = Header(value, "utf-8", maxlinelen=self.max_line_length or 78, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}"


_FREE_TEXT = frozenset({"subject"})
MAIL_POLICY = _MailPolicy(linesep="\r\n")


@dataclass(frozen=True)
class Built:
    message: EmailMessage
    recipients: list[str]  # envelope: To + Cc
    subject: str

    def as_bytes(self) -> bytes:
        """The message as it goes over SMTP (CRLF, folded by :data:`MAIL_POLICY`)."""
        return self.message.as_bytes(policy=MAIL_POLICY)


def attachments_of(row: Mapping[str, Any]) -> tuple[str, ...]:
    route = (row.get("context") or {}).get("_route") or {}
    if route.get("attach") is not None:
        return tuple(route["attach"])
    return DEFAULT_ATTACH.get(row["kind"], ())


def needs_letter(row: Mapping[str, Any]) -> bool:
    return "letter" in attachments_of(row)


def check_address(address: str) -> str:
    value = (address or "").strip()
    if not _ADDRESS.match(value):
        raise RenderError(f"'{clean_header(value)}' is not a usable e-mail address")
    return value


class MessageBuilder:
    """Builds messages for one delivery pass (one config, calendar, renderer, secret)."""

    def __init__(
        self,
        config: Config,
        calendar: BusinessCalendar | None = None,
        renderer: Renderer | None = None,
        secret: str | None = None,
    ) -> None:
        self.config = config
        self.calendar = calendar or config.business_calendar()
        self.renderer = renderer or Renderer(config.notifications.template_dir or None)
        self.secret = secret
        self.domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"

    def build(self, row: Mapping[str, Any], now: datetime) -> Built:
        kind = row["kind"]
        language = row.get("language") or self.config.notifications.language
        to = [check_address(a) for a in row.get("to_addrs") or []]
        cc = [check_address(a) for a in row.get("cc_addrs") or [] if a not in to]
        if not to:
            raise RenderError("no recipient address")
        message_id = row.get("message_id") or ""
        if not _MESSAGE_ID.match(message_id):
            raise RenderError(f"bad Message-ID {clean_header(message_id)!r}")
        link = expires = None
        if kind in LINK_KINDS and row.get("case_id") and self.secret:
            token = links.sign_case_link(self.secret, int(row["case_id"]), now)
            link = links.case_link_url(self.config.organisation.base_url, token)
            expires = link_expiry(self.config, now)
        ctx = notice_context(row, self.config, now, self.calendar, link=link, link_expires=expires)
        rendered = self.renderer.render(kind, language, ctx)

        msg = EmailMessage(policy=MAIL_POLICY)
        msg["Subject"] = rendered.subject
        msg["From"] = Address(
            display_name=clean_header(self.config.organisation.display_name),
            addr_spec=check_address(self.config.smtp.from_address),
        )
        msg["To"] = [Address(addr_spec=a) for a in to]
        if cc:
            msg["Cc"] = [Address(addr_spec=a) for a in cc]
        msg["Date"] = format_datetime(clock.to_local(now, self.config.organisation.tz))
        msg["Message-ID"] = message_id
        msg["Content-Language"] = language
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-Theodoi-Kind"] = clean_header(kind)
        msg["X-Theodoi-Key"] = clean_header(str(row.get("key", "")))
        if row.get("letter_number"):
            msg["X-Theodoi-Letter"] = clean_header(row["letter_number"])
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        for attachment in attachments_of(row):
            if attachment == "ics":
                self._attach_ics(msg, row, ctx, language, now, link)
            elif attachment == "letter":
                self._attach_letter(msg, row, ctx, now)
        return Built(msg, to + cc, rendered.subject)

    def _attach_ics(
        self,
        msg: EmailMessage,
        row: Mapping[str, Any],
        ctx: Mapping[str, Any],
        language: str,
        now: datetime,
        link: str | None,
    ) -> None:
        deadline = as_date(ctx.get("deadline"))
        if deadline is None:
            return
        summary = _ICS_SUMMARY.get(language, _ICS_SUMMARY["vi"]).format(name=ctx.get("name") or "")
        description = f"{summary} ({short_date(deadline)})" + (f"\n{link}" if link else "")
        data = ics.deadline_event(
            case_id=row.get("case_id"),
            workflow=str(ctx.get("workflow") or "trip"),
            deadline=deadline,
            summary=summary,
            description=description,
            stamp=now,
            domain=self.domain,
            url=link,
        )
        msg.add_attachment(
            data.decode("utf-8"),
            subtype="calendar",
            filename="han-nop-bao-cao.ics",
            params={"method": "PUBLISH"},
        )

    def _attach_letter(
        self,
        msg: EmailMessage,
        row: Mapping[str, Any],
        ctx: Mapping[str, Any],
        now: datetime,
    ) -> None:
        number = row.get("letter_number")
        if not number:
            raise RenderError("a letter needs its number before it is rendered")
        # An official letter is written in Vietnamese whatever the e-mail's language.
        letter = self.renderer.render_letter(row["kind"], "vi", ctx)
        data = letters.letter_docx(
            letter,
            number=number,
            on=as_date(ctx["letter_date"]),
            org=ctx["org"],
            created=now,
        )
        maintype, subtype = letters.DOCX_TYPE.split("/")
        msg.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype,
            filename=letters.letter_filename(row["kind"], number),
        )
