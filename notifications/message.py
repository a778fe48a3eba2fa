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

import functools
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

from kernel import clock
from kernel.calendar import BusinessCalendar
from kernel.settings import Config
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
    """The SMTP policy, with changes that keep its output but cost far less.

    * Non-ASCII free-text headers (Subject) are folded by the legacy
      ``email.header.Header``: the modern folder can drop the space between two
      encoded-words at a fold (``về việc đôn đốc`` arrived as ``về việcđôn đốc``),
      since whitespace between encoded-words is not text.
    * A header whose value is one short line of printable ASCII (most of them: Date,
      Message-ID, To, the MIME headers…) is written ``Name: value`` directly. That is
      what the modern folder writes for such a value — it folds or encodes only a
      line that is too long or not ASCII — but it gets there by walking the parsed
      header again, which cost more than the rest of a message.
    * Free text of that kind (Subject, X-Theodoi-*, Auto-Submitted…) is also stored
      as text, parsed only if it is read back: it reads back as it was written. Other
      values are parsed once and the parsed header is shared by every message that
      sets the same value (a Content-Type is parsed several times per MIME part).

    Header injection stays impossible: a value stored or written this way cannot
    hold a line break (printable ASCII only), and every other value goes through the
    standard checks and folder. ``tests/test_notify_fold.py`` compares the bytes
    with the standard policy's.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is str and len(value) <= 200:
            if self._kind(name).free_text and self._one_line(name, value):
                return (name, value)
            return (name, _parse(self.header_factory, name, value))
        return super().header_store_parse(name, value)

    def header_max_count(self, name: str) -> int | None:
        return self._kind(name).max_count

    def _kind(self, name: str) -> _HeaderKind:
        key = (self.header_factory, name.lower())
        if key not in _KINDS:  # the registry makes a new class on every lookup
            cls = self.header_factory[name]
            _KINDS[key] = _HeaderKind(issubclass(cls, UnstructuredHeader), cls.max_count)
        return _KINDS[key]

    def fold(self, name: str, value: Any) -> str:
        if name.lower() in _FREE_TEXT and not str(value).isascii():
            return self._legacy_fold(name, str(value))
        return self._one_line(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in _FREE_TEXT and not str(value).isascii():
            return self._legacy_fold(name, str(value)).encode("ascii")
        line = self._one_line(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)

    def _one_line(self, name: str, value: Any) -> str | None:
        """``Name: value`` when the standard folder would write exactly that."""
        text = str(value)
        if (
            len(name) + 2 + len(text) <= (self.max_line_length or sys.maxsize)
            and _PLAIN.fullmatch(text)
            and "=?" not in text  # looks like an encoded-word: the folder decides
            and not getattr(value, "defects", None)  # e.g. a bad date is written empty
            and not hasattr(value, "addresses")  # parsed addresses print reformatted
        ):
            return f"{name}: {text}{self.linesep}"
        return None

    def _legacy_fold(self, name: str, value: str) -> str:
        header = Header(value, "utf-8", maxlinelen=self.max_line_length or 78, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}"


@dataclass(frozen=True)
class _HeaderKind:
    free_text: bool  # parsed as unstructured text: it prints back as it was given
    max_count: int | None


_KINDS: dict[tuple[Any, str], _HeaderKind] = {}


@functools.lru_cache(maxsize=256)
def _parse(factory: Any, name: str, value: str) -> Any:
    """A parsed header, shared between messages (parsed headers are immutable): the
    ``email`` package re-parses each Content-Type several times per part."""
    if len(value.splitlines()) > 1:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    return factory(name, value)


class _FoldedOnce(str):
    """A header that is the same in every message (From), folded once per policy.

    It stands in for the parsed header (``msg["From"].addresses`` still works)."""

    name: str

    def __new__(cls, header: Any) -> _FoldedOnce:
        self = super().__new__(cls, str(header))
        self.name = header.name
        self._header = header
        self._folded: dict[int, tuple[Any, str]] = {}
        return self

    def fold(self, *, policy: Any) -> str:
        cached = self._folded.get(id(policy))
        if cached is None or cached[0] is not policy:
            cached = self._folded[id(policy)] = (policy, self._header.fold(policy=policy))
        return cached[1]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._header, attr)


class _Generator(BytesGenerator):
    """The standard generator; a new MIME boundary is checked against the text with
    a substring test first (the standard check compiles a regular expression for
    each boundary, a third of the time spent writing a message)."""

    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:
        boundary = super()._make_boundary()
        if text is None or b"--" + boundary.encode("ascii") not in text:
            return boundary
        return super()._make_boundary(text)  # the boundary occurs: the standard way


_FREE_TEXT = frozenset({"subject"})
_PLAIN = re.compile(r"[\x20-\x7e]+")
_DOT_ATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
MAIL_POLICY = _MailPolicy(linesep="\r\n")


def _addresses(addrs: list[str]) -> Any:
    """A To/Cc value: plain text when every address prints as itself, else parsed."""
    if all(_DOT_ATOM.fullmatch(a) for a in addrs):
        return ", ".join(addrs)
    return [Address(addr_spec=a) for a in addrs]


@dataclass(frozen=True)
class Built:
    message: EmailMessage
    recipients: list[str]  # envelope: To + Cc
    subject: str

    def as_bytes(self) -> bytes:
        """The message as it goes over SMTP (CRLF, folded by :data:`MAIL_POLICY`)."""
        out = io.BytesIO()
        _Generator(out, mangle_from_=False, policy=MAIL_POLICY).flatten(self.message)
        return out.getvalue()


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
        calendar: BusinessCalendar,
        renderer: Renderer | None = None,
        secret: str | None = None,
    ) -> None:
        self.config = config
        self.calendar = calendar  # the one in effect: the engine's, with the admins' overlay
        self.renderer = renderer or Renderer(config.notifications.template_dir or None)
        self.secret = secret
        self.domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"
        self._from: _FoldedOnce | None = None

    def _from_header(self) -> _FoldedOnce:
        if self._from is None:
            sender = Address(
                display_name=clean_header(self.config.organisation.display_name),
                addr_spec=check_address(self.config.smtp.from_address),
            )
            self._from = _FoldedOnce(MAIL_POLICY.header_factory("From", sender))
        return self._from

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
        msg["From"] = self._from_header()
        msg["To"] = _addresses(to)
        if cc:
            msg["Cc"] = _addresses(cc)
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
