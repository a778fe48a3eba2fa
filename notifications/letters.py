"""Formal letters (công văn) as editable DOCX, laid out as Decree 30/2020/NĐ-CP form 1.5.

A4 portrait; margins top/bottom 20 mm, left 30 mm, right 15 mm; Times New Roman,
black. Header: a two-column table without borders — left the parent body (capitals),
the issuing body (bold capitals) with a short rule, ``Số: 05/SNgV-LSHTQT`` and the
``V/v`` subject; right the national title (bold capitals), the motto (bold) with a
rule as long as it, and the italic place-and-date line. Then ``Kính gửi:``, the body
(14 pt, justified, first-line indent 1.27 cm, 6 pt between paragraphs, ending in
``./.``), and a closing table: ``Nơi nhận:`` (bold italic 12 pt, list in 11 pt) on
the left, the signature block (bold capitals, then the name in bold) on the right.
Page numbers are centred in the top margin from page 2 on.

The words come from :class:`notifications.render.LetterText`; the number and date
from the outbox row (assigned once, when the letter is first rendered for sending).
"""

from __future__ import annotations

import functools
import io
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor

from notifications.dates import letter_date_line
from notifications.render import LetterText

FONT = "Times New Roman"
BODY_PT = 14
CONTENT_WIDTH_MM = 210 - 30 - 15
LEFT_COL_MM = 62
RIGHT_COL_MM = CONTENT_WIDTH_MM - LEFT_COL_MM
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def letter_docx(
    letter: LetterText,
    *,
    number: str,
    on: date,
    org: Mapping[str, Any],
    created: datetime | None = None,
) -> bytes:
    """The letter as DOCX bytes."""
    template = _template()
    doc = Document(io.BytesIO(template.lean))
    _header_table(doc, letter, number, on, org)
    _recipients(doc, letter.recipients)
    body = list(letter.body)
    if body and not body[-1].endswith("./."):
        body[-1] = body[-1].rstrip(" .") + "./."  # Decree 30: the text ends with ./.
    for text in body:
        _body_paragraph(doc, text)
    _closing_table(doc, letter.copies, org)
    props = doc.core_properties
    props.title = f"V/v {letter.subject}"
    props.subject = f"Số: {number}"
    props.author = str(org.get("name", ""))
    props.language = "vi-VN"
    if created is not None:
        props.created = created
        props.modified = created
        props.last_modified_by = str(org.get("name", ""))
    written = {
        str(part.partname).lstrip("/"): part.blob
        for part in doc.part.package.iter_parts()
        if str(part.partname).lstrip("/") in _PER_LETTER
    }
    return _zip(template, written, created)


# -- the page, styles and package, built once -----------------------------------------
#
# Every letter shares python-docx's default template with this module's page set-up
# and styles. Opening it costs most of a letter (styles.xml alone is 350 KB of XML)
# and so does compressing it again, so the package is built once: each letter opens
# a lean copy (the same package with an empty styles part, enough for python-docx to
# lay the words out) and is written as a ZIP holding the shared parts, compressed
# once, and its own document and properties.

_PER_LETTER = frozenset({"word/document.xml", "docProps/core.xml"})
_LEAN_STYLES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
)


@dataclass(frozen=True)
class _Template:
    lean: bytes  # the package to lay a letter out in
    entries: tuple[tuple[str, tuple[int, int, bytes] | None], ...]  # name, shared part


@functools.cache
def _template() -> _Template:
    doc = Document()
    _page(doc)
    _styles(doc)
    full = io.BytesIO()
    doc.save(full)
    lean = io.BytesIO()
    entries = []
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(lean, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(
                info.filename, _LEAN_STYLES if info.filename == "word/styles.xml" else data
            )
            shared = None if info.filename in _PER_LETTER else _deflate(data)
            entries.append((info.filename, shared))
    return _Template(lean.getvalue(), tuple(entries))


def _deflate(data: bytes) -> tuple[int, int, bytes]:
    """(CRC-32, size, raw DEFLATE data) of one ZIP member."""
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return zlib.crc32(data), len(data), packer.compress(data) + packer.flush()


def _zip(template: _Template, written: Mapping[str, bytes], created: datetime | None) -> bytes:
    """The package as a ZIP (the layout ``zipfile`` writes), members dated ``created``."""
    when = created or datetime(1980, 1, 1)
    dos_time = when.hour << 11 | when.minute << 5 | when.second // 2
    dos_date = max(when.year - 1980, 0) << 9 | when.month << 5 | when.day
    body, directory = bytearray(), bytearray()
    for name, shared in template.entries:
        crc, size, data = shared if shared is not None else _deflate(written[name])
        raw = name.encode("ascii")
        common = struct.pack(
            "<5H3L2H", 20, 0, 8, dos_time, dos_date, crc, len(data), size, len(raw), 0
        )
        directory += b"PK\x01\x02" + struct.pack("<H", 0x0314) + common
        directory += struct.pack("<3H2L", 0, 0, 0, 0o600 << 16, len(body)) + raw
        body += b"PK\x03\x04" + common + raw + data
    count = len(template.entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


def letter_filename(kind: str, number: str) -> str:
    """An ASCII file name: ``cong-van-05-SNgV-LSHTQT.docx``."""
    prefix = "cong-van"
    if "urging" in kind:
        prefix = "cong-van-don-doc"
    elif "escalation" in kind:
        prefix = "cong-van-de-xuat-xu-ly"
    ascii_number = unicodedata.normalize("NFKD", number).encode("ascii", "ignore").decode()
    ascii_number = re.sub(r"[^A-Za-z0-9-]+", "-", ascii_number).strip("-")
    return f"{prefix}-{ascii_number}.docx"


def _page(doc: Any) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.header_distance = Mm(10)
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_field(paragraph)


def _page_field(paragraph: Any) -> None:
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _styles(doc: Any) -> None:
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(BODY_PT)
    style.font.color.rgb = RGBColor(0, 0, 0)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)
    fmt = style.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.line_spacing = 1.0


def _run(paragraph: Any, text: str, size: float, *, bold=False, italic=False, caps=False) -> Any:
    run = paragraph.add_run(text.upper() if caps else text)
    run.font.name = FONT
    run.font.size = Pt(size)
    run.bold = bold
    run.italic = italic
    return run


def _centered(cell_or_doc: Any, first: bool = False) -> Any:
    paragraph = cell_or_doc.paragraphs[0] if first else cell_or_doc.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return paragraph


def _rule(cell: Any, length_mm: float, column_mm: float) -> None:
    """A centred horizontal rule ``length_mm`` long: the bottom border of a tiny paragraph."""
    paragraph = cell.add_paragraph()
    side = max((column_mm - length_mm) / 2, 0)
    paragraph.paragraph_format.left_indent = Mm(side)
    paragraph.paragraph_format.right_indent = Mm(side)
    _run(paragraph, "", 2)
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr.append(borders)


def _no_borders(table: Any) -> None:
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    tbl_pr.append(borders)


def _two_columns(doc: Any, left_mm: float, right_mm: float) -> tuple[Any, Any]:
    table = doc.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _no_borders(table)
    left, right = table.rows[0].cells
    for cell, width in ((left, left_mm), (right, right_mm)):
        cell.width = Mm(width)
    for column, width in zip(table.columns, (left_mm, right_mm), strict=True):
        column.width = Mm(width)
    return left, right


def _header_table(
    doc: Any, letter: LetterText, number: str, on: date, org: Mapping[str, Any]
) -> None:
    left, right = _two_columns(doc, LEFT_COL_MM, RIGHT_COL_MM)
    _run(_centered(left, first=True), str(org.get("parent_body", "")), 13, caps=True)
    _run(_centered(left), str(org.get("name", "")), 13, bold=True, caps=True)
    _rule(left, 22, LEFT_COL_MM)
    paragraph = _centered(left)
    paragraph.paragraph_format.space_before = Pt(6)
    _run(paragraph, f"Số: {number}", 13)
    paragraph = _centered(left)
    paragraph.paragraph_format.space_before = Pt(3)
    _run(paragraph, f"V/v {letter.subject}", 12)

    _run(
        _centered(right, first=True), "Cộng hòa xã hội chủ nghĩa Việt Nam", 12, bold=True, caps=True
    )
    _run(_centered(right), "Độc lập - Tự do - Hạnh phúc", 13, bold=True)
    _rule(right, 61, RIGHT_COL_MM)
    paragraph = _centered(right)
    paragraph.paragraph_format.space_before = Pt(6)
    _run(paragraph, letter_date_line(str(org.get("place", "")), on), 13, italic=True)


def _recipients(doc: Any, recipients: tuple[str, ...]) -> None:
    spacer = doc.add_paragraph()
    spacer.paragraph_format.space_before = Pt(12)
    names = [r.rstrip(" .;") for r in recipients if r.strip(" .;")]
    if len(names) <= 1:
        paragraph = _centered(doc)
        _run(paragraph, f"Kính gửi: {names[0] if names else ''}.", BODY_PT)
    else:
        paragraph = _centered(doc)
        _run(paragraph, "Kính gửi:", BODY_PT)
        for i, name in enumerate(names):
            line = doc.add_paragraph()
            line.paragraph_format.left_indent = Cm(4.5)
            end = "." if i == len(names) - 1 else ";"
            _run(line, f"- {name}{end}", BODY_PT)
    paragraph = doc.add_paragraph()
    paragraph.paragraph_format.space_after = Pt(6)


def _body_paragraph(doc: Any, text: str) -> None:
    paragraph = doc.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    fmt = paragraph.paragraph_format
    fmt.first_line_indent = Cm(1.27)
    fmt.space_after = Pt(6)
    fmt.line_spacing = 1.15
    _run(paragraph, text, BODY_PT)


def _closing_table(doc: Any, copies: tuple[str, ...], org: Mapping[str, Any]) -> None:
    doc.add_paragraph()
    left, right = _two_columns(doc, 80, CONTENT_WIDTH_MM - 80)
    heading = left.paragraphs[0]
    _run(heading, "Nơi nhận:", 12, bold=True, italic=True)
    for line in copies:
        _run(left.add_paragraph(), f"- {line}", 11)

    paragraph = _centered(right, first=True)
    if org.get("signer_title"):
        _run(paragraph, str(org["signer_title"]), 14, bold=True, caps=True)
        paragraph = _centered(right)
    _run(paragraph, str(org.get("signer_position", "")), 14, bold=True, caps=True)
    for _ in range(4):
        right.add_paragraph()
    _run(_centered(right), str(org.get("signer_name", "")), 14, bold=True)
