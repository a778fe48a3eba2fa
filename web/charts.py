"""Server-side SVG charts (pygal) for the compliance page.

pygal writes a ``<script>`` with its configuration, labels included, into every chart;
it is removed here so a unit named ``</script><script>…`` cannot run anything, and the
remaining SVG is serialised by lxml, which escapes every label.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import pygal
from lxml import etree
from markupsafe import Markup
from pygal.style import Style


def _find_spec(self: Any, fullname: str, path: Any = None, target: Any = None) -> Any:
    if self.find_module(fullname, path) is None:
        return None
    return importlib.util.spec_from_loader(fullname, self)


# pygal appends a sys.meta_path finder that has only the legacy find_module(): Python
# 3.11 then warns (ImportWarning) on every failed import anywhere in the process, which
# turns optional imports (``try: import uvloop``) into errors under -W error. Giving it
# the modern method keeps its behaviour and silences that.
if not hasattr(pygal.PluginImportFixer, "find_spec"):
    pygal.PluginImportFixer.find_spec = _find_spec  # type: ignore[attr-defined]

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1d2733",
    foreground_strong="#1d2733",
    foreground_subtle="#d6dde5",
    colors=("#0b5cab", "#8b1a1a", "#1f7a3d", "#a15c00"),
    font_family="system-ui, 'Segoe UI', Roboto, 'Noto Sans', sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    title_font_size=16,
    value_font_size=12,
)


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    tree = chart.render_tree()
    for node in list(tree.iter("{*}script", "script")):
        node.getparent().remove(node)
    return Markup(etree.tostring(tree, encoding="unicode"))  # noqa: S704 (lxml escaped it)


def rate_bars(
    title: str, rows: Sequence[tuple[str, int | None]], horizontal: bool = True
) -> Markup:
    """Reporting rate (percent filed of due) per group; a group with nothing due is 0
    with no value label."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(260, 40 + 34 * len(rows)) if horizontal else 380
    chart = kind(
        js=[],
        style=STYLE,
        title=title,
        show_legend=False,
        range=(0, 100),
        height=height,
        width=760,
        print_values=True,
        value_formatter=lambda v: f"{v:.0f}%" if v is not None else "",
        truncate_label=40,
        x_label_rotation=0 if horizontal else 30,
        disable_xml_declaration=True,
    )
    chart.x_labels = [label for label, _ in rows]
    chart.add("%", [value for _, value in rows])
    return _svg(chart)


def month_line(title: str, rows: Sequence[tuple[str, int | None]]) -> Markup:
    chart = pygal.Line(
        js=[],
        style=STYLE,
        title=title,
        show_legend=False,
        range=(0, 100),
        height=340,
        width=760,
        print_values=False,
        x_label_rotation=30,
        value_formatter=lambda v: f"{v:.0f}%" if v is not None else "",
        disable_xml_declaration=True,
    )
    chart.x_labels = [label for label, _ in rows]
    chart.add("%", [value for _, value in rows])
    return _svg(chart)
