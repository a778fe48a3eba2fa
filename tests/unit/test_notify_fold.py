"""The cheap header and package writing gives the bytes the standard library gives.

notifications.message writes short plain-ASCII headers itself, stores them unparsed,
folds From once and checks MIME boundaries with a substring test; notifications.letters
writes the DOCX package from parts compressed once. These tests build the same things
the standard way (the SMTP policy with only the Vietnamese-subject fix, python-docx's
own save) and compare.
"""

from __future__ import annotations

import email
import email.generator
import email.policy
import io
import random
import re
import zipfile
from datetime import date, datetime
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any

import pytest
from docx import Document

from kernel.settings import load_config
from notifications import letters, message
from notifications.context import notice_context
from notifications.message import MAIL_POLICY, MessageBuilder
from notifications.render import LetterText, Renderer
from tests.unit.test_notify_render import KINDS, NOW, row


class _Reference(EmailPolicy):
    """The policy as it was: the standard folder, legacy folding for non-ASCII Subject."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "subject" and not str(value).isascii():
            header = Header(str(value), "utf-8", maxlinelen=78, header_name=name)
            return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


REFERENCE = _Reference(linesep="\r\n")
_BOUNDARY = re.compile(rb"===============\d+==(\.\d+)?")


@pytest.fixture(scope="module")
def config():
    return load_config(None, {})


def _standard_build(monkeypatch: pytest.MonkeyPatch, builder: MessageBuilder, r: dict) -> bytes:
    """``builder.build`` with every shortcut replaced by the standard way."""
    with monkeypatch.context() as patch:
        patch.setattr(message, "MAIL_POLICY", REFERENCE)
        patch.setattr(message, "_addresses", lambda addrs: [Address(addr_spec=a) for a in addrs])
        patch.setattr(
            MessageBuilder,
            "_from_header",
            lambda self: Address(
                display_name=self.config.organisation.display_name,
                addr_spec=self.config.smtp.from_address,
            ),
        )
        built = builder.build(r, NOW)
        return built.message.as_bytes(policy=REFERENCE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["vi", "en"])
def test_each_kind_is_the_bytes_the_standard_policy_writes(monkeypatch, config, kind, language):
    builder = MessageBuilder(config, config.business_calendar(), secret="s3cret")
    r = row(kind, language=language, name='Trần "Bình" (Tổ 1); a,b <c>')
    r["cc_addrs"] = ["an@example.vn", "o'brien.x+y@sub-1.example.vn"]
    fast = builder.build(r, NOW).as_bytes()
    standard = _standard_build(monkeypatch, builder, r)
    assert _BOUNDARY.sub(b"B", fast) == _BOUNDARY.sub(b"B", standard)


def _fuzz_values(rng: random.Random, n: int) -> list[str]:
    alphabet = [chr(c) for c in range(32, 127)] + ["\t", "\r", "\n", "\x0b", "ễ", "=?", "  "]
    values = []
    for _ in range(n):
        size = rng.choice((0, 1, 5, 20, 50, 70, 90))
        values.append("".join(rng.choice(alphabet) for _ in range(size)))
    values += [
        "=?utf-8?q?abc?=",
        "a@b.vn, c@d.vn",
        "a@b.vn,c@d.vn",
        "Tue, 14 Sep 2021 7:30:00 +0700",
    ]
    values += ["not a date", "<x@y>", "1.0", "base64", 'text/plain; charset="utf-8"', " x ", ""]
    return values


@pytest.mark.parametrize(
    "name",
    [
        "Subject",
        "X-Theodoi-Key",
        "To",
        "Cc",
        "Message-ID",
        "Date",
        "MIME-Version",
        "Content-Transfer-Encoding",
        "Content-Type",
        "Content-Disposition",
        "Auto-Submitted",
    ],
)
def test_random_header_values_fold_as_the_standard_policy_folds_them(name):
    rng = random.Random(name)
    for value in _fuzz_values(rng, 300):
        outcomes: list[Any] = []
        for policy in (MAIL_POLICY, REFERENCE):
            msg = EmailMessage(policy=policy)
            try:
                msg[name] = value
                outcomes.append(b"".join(policy.fold_binary(k, v) for k, v in msg.raw_items()))
            except Exception as exc:  # noqa: BLE001 — the same refusal for both
                outcomes.append(type(exc))
        if isinstance(outcomes[1], bytes) and not value.isascii() and name == "Subject":
            continue  # non-ASCII Subject: both take the legacy folder, compared above
        assert outcomes[0] == outcomes[1], (name, value)


def test_a_line_break_is_refused_in_every_header():
    msg = EmailMessage(policy=MAIL_POLICY)
    for name in ("Subject", "X-Theodoi-Key", "To", "Content-Type"):
        with pytest.raises(ValueError):
            msg[name] = "a\r\nBcc: victim@evil.example"


def test_a_boundary_found_in_the_text_is_replaced(monkeypatch):
    class Fixed:  # every boundary drawn is the same one
        @staticmethod
        def randrange(_n: int) -> int:
            return 7

    monkeypatch.setattr(email.generator, "random", Fixed)
    boundary = message._Generator._make_boundary()
    assert message._Generator._make_boundary(b"no boundary here") == boundary
    text = f"a\n--{boundary}\nb".encode()  # the generator hands its parts as bytes
    other = message._Generator._make_boundary(text)
    assert other != boundary
    lines = text.decode().splitlines()
    assert f"--{other}" not in lines and f"--{other}--" not in lines


def test_from_is_folded_once_and_still_reads_as_an_address(config):
    builder = MessageBuilder(config, config.business_calendar())
    first = builder.build(row("reminder"), NOW)
    second = builder.build(row("reminder"), NOW)
    assert first.message["From"] is second.message["From"]
    parsed = email.message_from_bytes(second.as_bytes(), policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == config.organisation.display_name
    assert first.message["From"].addresses[0].addr_spec == config.smtp.from_address


# -- letters ---------------------------------------------------------------------------


def _python_docx_letter(letter: LetterText, number: str, on: date, org: dict) -> bytes:
    """The letter written by python-docx from its own template, as it used to be."""
    doc = Document()
    letters._page(doc)
    letters._styles(doc)
    letters._header_table(doc, letter, number, on, org)
    letters._recipients(doc, letter.recipients)
    body = list(letter.body)
    if not body[-1].endswith("./."):
        body[-1] = body[-1].rstrip(" .") + "./."
    for text in body:
        letters._body_paragraph(doc, text)
    letters._closing_table(doc, letter.copies, org)
    props = doc.core_properties
    props.title = f"V/v {letter.subject}"
    props.subject = f"Số: {number}"
    props.author = str(org.get("name", ""))
    props.language = "vi-VN"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def test_letter_package_holds_the_parts_python_docx_writes(config):
    ctx = notice_context(row("escalation", level=2), config, NOW, config.business_calendar())
    ctx["letter_date"] = "2021-09-22"
    letter = Renderer().render_letter("escalation", "vi", ctx)
    on = date(2021, 9, 22)
    ours = letters.letter_docx(letter, number="07/SNgV-LSHTQT", on=on, org=ctx["org"])
    theirs = _python_docx_letter(letter, "07/SNgV-LSHTQT", on, ctx["org"])
    with zipfile.ZipFile(io.BytesIO(ours)) as a, zipfile.ZipFile(io.BytesIO(theirs)) as b:
        assert a.testzip() is None
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    doc = Document(io.BytesIO(ours))
    assert doc.styles["Normal"].font.name == "Times New Roman"


def test_the_same_letter_gives_the_same_bytes(config):
    ctx = notice_context(row("urging_letter", level=0), config, NOW, config.business_calendar())
    ctx["letter_date"] = "2021-09-22"
    letter = Renderer().render_letter("urging_letter", "vi", ctx)
    made = [
        letters.letter_docx(
            letter,
            number="05/SNgV-LSHTQT",
            on=date(2021, 9, 22),
            org=ctx["org"],
            created=datetime(2021, 9, 22, 1, 0, 0),
        )
        for _ in range(2)
    ]
    assert made[0] == made[1]
    with zipfile.ZipFile(io.BytesIO(made[0])) as z:
        assert {info.date_time for info in z.infolist()} == {(2021, 9, 22, 1, 0, 0)}


def test_standard_generator_agrees_on_a_whole_message(config):
    built = MessageBuilder(config, config.business_calendar(), secret="s3cret").build(
        row("urging_letter", level=0), NOW
    )
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=MAIL_POLICY).flatten(built.message)
    assert _BOUNDARY.sub(b"B", out.getvalue()) == _BOUNDARY.sub(b"B", built.as_bytes())
