"""Block-structured text out of a parsed HTML page, in one pass that is linear in the tree.

The HTML loader (:mod:`ragft.corpus.formats`) parses with BeautifulSoup and renders here. The
rendering walks the tree once with an explicit stack instead of editing it: inserting a marker
string after a tag makes BeautifulSoup walk the tag's whole subtree (``_last_descendant``), so
marking every block of a page nested *n* deep was O(n²) — 8,000 nested ``<div>`` took 3 s,
100,000 would have taken minutes — and a Python-recursive walk would hit the recursion limit.

What the text looks like:

* ``script``/``style``/``nav``/``head``/… are dropped with everything inside them;
* runs of whitespace are one space (HTML's own rule), except inside ``<pre>``;
* block elements (``p``, ``div``, ``table``, headings, …) are separated by a blank line, list
  items, table rows and the like start a line of their own, ``<br>`` is a line break and
  table cells in a row are joined with `` | ``;
* headings are written as Markdown ATX headings (``## Parental leave``), so the chunkers see
  the page's structure;
* comments, doctypes and ruby annotations (``<rt>``) are not text.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, CData, NavigableString, Tag

# Content that is never part of the document's prose.
HTML_DROPPED_TAGS = frozenset(("script", "style", "noscript", "template", "nav", "head"))
HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Elements that start a new paragraph (blank line) or a new line of their own.
HTML_PARAGRAPH_TAGS = frozenset((
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
    "pre", "table", "ul", "ol", "dl", "figure", "form", "hr", *HTML_HEADINGS,
))
HTML_LINE_TAGS = frozenset(("li", "tr", "dt", "dd", "figcaption", "caption"))
_CELLS = ("td", "th")
# Exact string types that are text (Comment, Doctype, ruby text… subclass NavigableString).
_TEXT_TYPES = (NavigableString, CData)
_WHITESPACE = re.compile(r"\s+")

_LEAVE_PRE = object()  # stack marker: the walk has finished a <pre> element


def html_block_text(soup: BeautifulSoup) -> str:
    """The page as text in which every block element starts on its own line (see module doc)."""
    return _tidy_lines("".join(_render(soup, blocks=True)))


def _render(root: Tag, blocks: bool) -> list[str]:
    """The text pieces of ``root``'s subtree, in document order.

    ``blocks=False`` renders a heading's title: no block or line breaks and no nested heading
    markup, only the strings, ``<br>`` and cell separators.
    """
    out: list[str] = []
    in_pre = 0
    # Items are tags and strings still to visit, closing strings to emit, or _LEAVE_PRE;
    # children are pushed in reverse so that they pop in document order.
    stack: list = []
    later_cells: set[int] = set()  # ids of table cells that follow another cell in their row
    _push_children(root, stack, later_cells)
    while stack:
        item = stack.pop()
        if item is _LEAVE_PRE:
            in_pre -= 1
        elif type(item) is str:  # a closing marker pushed by _visit_tag
            out.append(item)
        elif isinstance(item, NavigableString):
            if type(item) is NavigableString:
                out.append(str(item) if in_pre else _WHITESPACE.sub(" ", item))
            elif type(item) in _TEXT_TYPES:
                out.append(str(item))
        elif isinstance(item, Tag) and item.name not in HTML_DROPPED_TAGS:
            in_pre += _visit_tag(item, blocks, out, stack, later_cells)
    return out


def _visit_tag(tag: Tag, blocks: bool, out: list[str], stack: list, later_cells: set[int]) -> int:
    """Emit what comes before ``tag``, push its children and what comes after; return 1 when
    the walk enters a ``<pre>``."""
    name = tag.name
    if name == "br":
        out.append("\n")
        return 0
    if id(tag) in later_cells:
        out.append(" | ")
    if blocks and name in HTML_HEADINGS:
        title = " ".join("".join(_render(tag, blocks=False)).split())
        # An empty heading renders as nothing but whitespace, which the tidying removes anyway.
        out.append(f"\n\n{'#' * int(name[1])} {title}\n\n" if title else "\n\n")
        return 0
    if blocks and name in HTML_PARAGRAPH_TAGS:
        out.append("\n\n")
        stack.append("\n\n")
    elif blocks and name in HTML_LINE_TAGS:
        stack.append("\n")
    if name == "pre":
        stack.append(_LEAVE_PRE)
    _push_children(tag, stack, later_cells)
    return 1 if name == "pre" else 0


def _push_children(tag: Tag, stack: list, later_cells: set[int]) -> None:
    cells = [child for child in tag.contents if isinstance(child, Tag) and child.name in _CELLS]
    later_cells.update(id(cell) for cell in cells[1:])
    stack.extend(reversed(tag.contents))


def _tidy_lines(text: str) -> str:
    """Strip every line and keep at most one blank line between blocks."""
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
