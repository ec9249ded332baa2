"""Report documents: a list of blocks (headings, paragraphs, lists, tables, figures) rendered twice, as
Markdown and as one self-contained HTML page, so both always say the same thing. Knows no study."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from aecompare.core.io import atomic_write_text, read_file

REPORT_MD, REPORT_HTML, FIGURES = "report.md", "report.html", "figures"


@dataclass
class Block:
    """One piece of a report: a heading, a paragraph, a table or a figure."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "list" | "table" | "figure"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    path: Path | None = None  # figures: the PNG, relative to the report's folder


def write_document(folder: Path, blocks: list[Block], name: str) -> Path:
    """Write ``report.md`` and ``report.html`` (figures embedded, a table of contents after the introduction)
    into ``folder``; returns the HTML's path."""
    blocks = with_contents(blocks)
    atomic_write_text(folder / REPORT_MD, render_markdown(blocks))
    html_path = folder / REPORT_HTML
    atomic_write_text(html_path, render_html(blocks, folder, title=f"aecompare: {name}"))
    return html_path


def anchor(text: str) -> str:
    """A heading's anchor, as GitHub makes it: lower case, spaces to hyphens, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def with_contents(blocks: list[Block]) -> list[Block]:
    """``blocks`` with a list of links to every second-level heading before the first of them."""
    headings = [b.text for b in blocks if b.kind == "h2"]
    if len(headings) < 2:
        return blocks
    first = next(i for i, b in enumerate(blocks) if b.kind == "h2")
    contents = [Block("h2", "Contents"), Block("list", rows=[[f"[{h}](#{anchor(h)})"] for h in headings])]
    return [*blocks[:first], *contents, *blocks[first:]]


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "list":
            out.append("\n".join(f"- {item}" for (item,) in b.rows))
        elif b.kind == "table":
            out.append(
                "\n".join(
                    [
                        "| " + " | ".join(b.header) + " |",
                        "|" + "---|" * len(b.header),
                        *["| " + " | ".join(r) + " |" for r in b.rows],
                    ]
                )
            )
        elif b.kind == "figure":
            out.append(f"![{b.text}]({b.path.as_posix()})\n\n*{b.text}*")
    return "\n\n".join(out) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f2f2f2}td.n{text-align:right}figure{margin:1em 0}img{max-width:100%}
figcaption{font-style:italic;color:#555}"""


def render_html(blocks: list[Block], folder: Path, title: str) -> str:
    """The blocks as one HTML page with figures embedded as base64 PNGs (no external files)."""
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>"
    ]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind} id='{anchor(b.text)}'>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{html.escape(b.text)}</p>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{_link(item)}</li>" for (item,) in b.rows) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(_cell(c, first=i == 0) for i, c in enumerate(r)) + "</tr>" for r in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            data = base64.b64encode(read_file(folder / b.path)).decode("ascii")
            out.append(
                f"<figure><img alt='{html.escape(b.text)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(b.text)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _link(text: str) -> str:
    """Escape a list item, turning a Markdown link ``[text](#anchor)`` into an HTML one."""
    match = re.fullmatch(r"\[(.+)\]\((#[\w-]+)\)", text)
    if match:
        return f"<a href='{match.group(2)}'>{html.escape(match.group(1))}</a>"
    return html.escape(text)


def _cell(text: str, first: bool) -> str:
    """A table cell; numbers (after the row's label) right-aligned so their digits line up, words left."""
    numeric = not first and re.match(r"^(\*\*)?[-+−]?\d", text)
    return f"<td class='n'>{_inline(text)}</td>" if numeric else f"<td>{_inline(text)}</td>"


def _inline(text: str) -> str:
    """Escape text, turning Markdown's **bold** into <b>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
