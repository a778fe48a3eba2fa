"""Jinja2 rendering of notices: subject, plain text and HTML for one kind and language.

Templates live in ``notifications/templates/<lang>/``; an operator's folder
(``[notifications] template_dir``) is searched first, with the same layout, so any
file can be overridden alone. A template missing in the requested language falls
back to Vietnamese.

Per kind: ``<kind>.subject.txt``, ``<kind>.txt`` and ``<kind>.html`` (the HTML
layout shows the plain-text body as escaped paragraphs unless the kind's HTML says
more); formal letters add ``<kind>.letter.txt`` with the blocks ``subject``,
``recipients``, ``body`` and ``copies`` that :mod:`notifications.letters` lays out.

Autoescaping is on for ``.html`` files only. Subjects lose every control character
(a name with a newline cannot inject a header).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from kernel.countries import country_names
from kernel.errors import TheodoiError
from notifications import dates

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "vi"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_URL = re.compile(r"https?://[^\s<>\"']+")


class RenderError(TheodoiError):
    """A notice could not be rendered (missing template, bad template, missing value)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class LetterText:
    """The words of a formal letter; :mod:`notifications.letters` gives them the form."""

    subject: str  # the V/v line, without "V/v"
    recipients: tuple[str, ...]  # Kính gửi
    body: tuple[str, ...]  # paragraphs
    copies: tuple[str, ...]  # Nơi nhận lines, without the leading "- "


def clean_header(value: str) -> str:
    """One line of header text: control characters (CR, LF, TAB…) become single spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def one_line(value: Any) -> str:
    """A value shown inside a sentence: no line breaks."""
    return "" if value is None else clean_header(str(value))


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each with its line breaks kept."""
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def html_paragraph(text: str) -> Markup:
    """An escaped paragraph: URLs become links, line breaks ``<br>``; lines starting
    with ``- `` become a list."""
    lines = text.split("\n")
    if all(line.startswith("- ") for line in lines):
        items = Markup("").join(Markup("<li>{}</li>").format(_linkify(line[2:])) for line in lines)
        return Markup("<ul>{}</ul>").format(items)
    return Markup("<p>{}</p>").format(Markup("<br>\n").join(_linkify(line) for line in lines))


def _linkify(line: str) -> Markup:
    out, last = Markup(""), 0
    for match in _URL.finditer(line):
        out += escape(line[last : match.start()])
        url = match.group(0).rstrip(".,;)")
        out += Markup('<a href="{0}">{0}</a>').format(url)
        last = match.start() + len(url)
    return out + escape(line[last:])


class Renderer:
    """Renders notices from the built-in templates and an optional override folder.

    A renderer looks each template up once: a delivery pass uses one renderer, so
    all its messages come from the same templates, and the next pass sees any file
    an operator changed or added."""

    def __init__(self, template_dir: str | Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir:
            folder = Path(template_dir)
            if not folder.is_dir():
                raise RenderError(f"[notifications] template_dir {folder}: not a folder")
            loaders.append(jinja2.FileSystemLoader(str(folder)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN_DIR)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            d=dates.short_date,
            d30=dates.decree30_date,
            one_line=one_line,
            capitalize_first=lambda v: str(v)[:1].upper() + str(v)[1:],
            paragraph=html_paragraph,
        )
        self._templates: dict[tuple[str, str, str], jinja2.Template] = {}

    def has(self, kind: str, language: str, part: str = "txt") -> bool:
        try:
            self._template(kind, language, part)
        except RenderError:
            return False
        return True

    def render(self, kind: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """Subject, text and HTML of one notice."""
        ctx = self._context(language, context)
        subject = clean_header(self._render(kind, language, "subject.txt", ctx))
        if not subject:
            raise RenderError(f"template {language}/{kind}.subject.txt gave an empty subject")
        text = re.sub(r"\n\s*\n\s*\n+", "\n\n", self._render(kind, language, "txt", ctx))
        text = text.strip() + "\n"
        html = self._render(
            kind, language, "html", {**ctx, "subject": subject, "body_paragraphs": paragraphs(text)}
        )
        return Rendered(subject, text, html)

    def render_letter(self, kind: str, language: str, context: Mapping[str, Any]) -> LetterText:
        """The words of a formal letter from ``<kind>.letter.txt``'s blocks."""
        template = self._template(kind, language, "letter.txt")
        ctx = template.new_context(self._context(language, context))
        try:
            # Run the template once so that its top-level imports and sets exist for
            # the blocks; its own output (the blocks in sequence) is not used.
            "".join(template.root_render_func(ctx))
            parts = {
                name: "".join(template.blocks[name](ctx)).strip()
                for name in ("subject", "recipients", "body", "copies")
            }
        except KeyError as exc:
            raise RenderError(f"{template.name}: missing block {exc}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template.name}: {exc}") from exc
        return LetterText(
            subject=clean_header(parts["subject"]),
            recipients=_lines(parts["recipients"]),
            body=tuple(" ".join(p.split()) for p in paragraphs(parts["body"])),
            copies=_lines(parts["copies"]),
        )

    def _context(self, language: str, context: Mapping[str, Any]) -> dict[str, Any]:
        lang = language or FALLBACK_LANGUAGE
        return {
            **context,
            "language": lang,
            "ld": lambda value: dates.long_date(value, lang),
            "wd": lambda value: dates.weekday(value, lang),
            "countries": lambda codes: country_names(codes, lang),
        }

    def _template(self, kind: str, language: str, part: str) -> jinja2.Template:
        key = (kind, language, part)
        if key not in self._templates:
            self._templates[key] = self._find(kind, language, part)
        return self._templates[key]

    def _find(self, kind: str, language: str, part: str) -> jinja2.Template:
        names = [f"{language}/{kind}.{part}"]
        if language != FALLBACK_LANGUAGE:
            names.append(f"{FALLBACK_LANGUAGE}/{kind}.{part}")
        try:
            return self.env.select_template(names)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"no template {names[0]} for notice kind '{kind}'") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"template {names[0]}: {exc}") from exc

    def _render(self, kind: str, language: str, part: str, ctx: Mapping[str, Any]) -> str:
        template = self._template(kind, language, part)
        try:
            return template.render(ctx)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template.name}: {exc}") from exc
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise RenderError(f"{template.name}: {type(exc).__name__}: {exc}") from exc


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def join_names(names: Iterable[str], language: str = "vi") -> str:
    items = [n for n in names if n]
    if len(items) <= 1:
        return "".join(items)
    word = " và " if language == "vi" else " and "
    return ", ".join(items[:-1]) + word + items[-1]
