"""Plain text out of each supported file format (text, Markdown, HTML, PDF, DOCX).

One extractor per format, ``EXTRACTORS[format](path) -> (text, metadata)``; the loaders
(:mod:`ragft.corpus.loaders`) dispatch on the extension and add the shared metadata. Every
problem with a file becomes a :class:`LoadError` whose message reads
``"<path>: <reason> — <what to do>"``, so the CLI can print it as one line.

Text conventions (the chunkers rely on them):

* HTML and DOCX headings are written as Markdown ATX headings (``## Parental leave``) and
  blocks are separated by a blank line, so every format looks like Markdown to the chunkers;
* PDF page texts are joined with a blank line and ``metadata["page_starts"]`` holds the
  offset at which each page begins.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pypdf
from bs4 import BeautifulSoup
from docx.opc.exceptions import OpcError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ragft.corpus.html_text import html_block_text
from ragft.errors import RagftError

# Extension → format name stored in ``metadata["format"]``.
FORMATS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED_EXTENSIONS = tuple(FORMATS)

# A decoded text file with more than this share of control characters is treated as binary.
# Real prose has essentially none besides tab/newline; random bytes have about 12 %.
MAX_CONTROL_CHAR_SHARE = 0.05
# Unicode category Cc (C0 and C1 controls and DEL) less tab, newline, carriage return, form feed;
# a regex counts them ~20× faster than a per-character unicodedata loop (1.1 s per 10 MB).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


class LoadError(RagftError):
    """A file could not be turned into a Document.

    ``category`` is a short label ("corrupt PDF", "not text", …) that
    :meth:`~ragft.corpus.loaders.LoadReport.summary` groups skipped files by.
    """

    def __init__(self, path: Path | str, reason: str, hint: str, category: str = "unreadable"):
        super().__init__(f"{path}: {reason} — {hint}")
        self.path = Path(path)
        self.reason = reason
        self.hint = hint
        self.category = category


def normalise_newlines(text: str) -> str:
    """Line endings as ``\\n``, whatever the file used."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------
# Plain text and Markdown
# ---------------------------------------------------------------------------------------------


def decode_text_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a text file's bytes; return ``(text, encoding_used)``.

    Order: a BOM decides first (UTF-8 or UTF-16); NUL bytes without a UTF-16 BOM mean a binary
    file; then strict UTF-8; then Windows-1252. cp1252 is a superset of Latin-1 for printable
    characters and leaves five bytes undefined — those (and the C1 controls that Latin-1 would
    produce for 0x80–0x9F) never occur in real Western text, so a strict cp1252 failure means
    "some other encoding or binary" and we refuse rather than silently producing mojibake.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode_or_fail(data, "utf-8-sig", path), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_or_fail(data, "utf-16", path), "utf-16"
    if b"\x00" in data:
        raise LoadError(
            path,
            "contains NUL bytes, so it is a binary file, not text",
            "check the file type (UTF-16 text needs a BOM; re-save it as UTF-8)",
            category="not text",
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise LoadError(
            path,
            "is neither UTF-8 nor Windows-1252/Latin-1 text",
            "re-save it as UTF-8",
            category="unknown encoding",
        ) from None


def _decode_or_fail(data: bytes, encoding: str, path: Path) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LoadError(
            path,
            f"starts with a {encoding} byte-order mark but is not valid {encoding} ({exc.reason})",
            "re-save it as UTF-8",
            category="unknown encoding",
        ) from None


def _reject_binary_looking_text(text: str, path: Path) -> None:
    """Catch binary files without NUL bytes that still decoded as cp1252 or UTF-8."""
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > MAX_CONTROL_CHAR_SHARE * len(text):
        raise LoadError(
            path,
            f"{controls / len(text):.0%} of its characters are control characters, "
            "so it is a binary file, not text",
            "check the file type or remove it from the folder",
            category="not text",
        )


def _read_text_file(path: Path) -> tuple[str, dict]:
    text, encoding = decode_text_bytes(path.read_bytes(), path)
    _reject_binary_looking_text(text, path)
    return text, {"encoding": encoding}


def _first_markdown_heading(text: str) -> str | None:
    # Closing "#"s stripped in code, not by a lazy "(.+?)[ \t#]*$" (O(n²) on a long line).
    match = re.search(r"^#{1,6}[ \t]+(.+)$", text, flags=re.MULTILINE)
    return (match.group(1).rstrip(" \t#") or match.group(1)[:1]).strip() if match else None


def _load_markdown(path: Path) -> tuple[str, dict]:
    text, metadata = _read_text_file(path)
    metadata["title"] = _first_markdown_heading(text)
    return text, metadata


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

def _load_html(path: Path) -> tuple[str, dict]:
    markup, metadata = _read_text_file(path)
    # html.parser is the standard-library parser: no optional lxml/html5lib dependency and the
    # same result on every machine. It builds the tree without recursion, so nesting depth
    # costs linear time; html_block_text renders it in one linear pass.
    soup = BeautifulSoup(markup, "html.parser")
    metadata["title"] = _html_title(soup)
    return html_block_text(soup), metadata


def _html_title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None and tag.get_text(strip=True):
            return " ".join(tag.get_text().split())
    return None


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------

PDF_PAGE_SEPARATOR = "\n\n"


def _load_pdf(path: Path) -> tuple[str, dict]:
    reader = _open_pdf(path)
    page_texts = _extract_pdf_pages(reader, path)
    if not any(page.strip() for page in page_texts):
        raise LoadError(
            path,
            f"has no extractable text in {len(page_texts)} page(s) (scanned or empty)",
            "run OCR on it first (e.g. ocrmypdf) or remove it",
            category="PDF without text (needs OCR)",
        )
    page_starts = _page_start_offsets(page_texts)
    metadata = {
        "title": _pdf_metadata_title(reader),
        "page_count": len(page_texts),
        "page_starts": page_starts,
    }
    return PDF_PAGE_SEPARATOR.join(page_texts), metadata


def _open_pdf(path: Path) -> pypdf.PdfReader:
    # pypdf raises many exception types on malformed files (PdfReadError, but also ValueError,
    # KeyError, …), so anything it raises while opening means "corrupt".
    try:
        reader = pypdf.PdfReader(path)
    except Exception as exc:  # noqa: BLE001 - see comment above
        raise _corrupt_pdf(path, exc) from None
    if reader.is_encrypted:
        _decrypt_with_empty_password(reader, path)
    return reader


def _decrypt_with_empty_password(reader: pypdf.PdfReader, path: Path) -> None:
    """Open PDFs that only carry an owner password (printing/copy restrictions)."""
    try:
        result = reader.decrypt("")
    except pypdf.errors.DependencyError:
        raise LoadError(
            path,
            "is AES-encrypted and pypdf needs the 'cryptography' package to open it",
            "pip install cryptography, or save an unencrypted copy",
            category="encrypted PDF",
        ) from None
    except Exception as exc:  # noqa: BLE001 - pypdf's errors on broken encryption dictionaries
        raise _corrupt_pdf(path, exc) from None
    if result == pypdf.PasswordType.NOT_DECRYPTED:
        raise LoadError(
            path,
            "is encrypted with a password",
            "save an unencrypted copy (e.g. print to PDF) and load that",
            category="encrypted PDF",
        )


def _extract_pdf_pages(reader: pypdf.PdfReader, path: Path) -> list[str]:
    try:
        return [normalise_newlines(page.extract_text() or "").strip() for page in reader.pages]
    except Exception as exc:  # noqa: BLE001 - broken page trees/content streams fail variously
        raise _corrupt_pdf(path, exc) from None


def _corrupt_pdf(path: Path, exc: Exception) -> LoadError:
    detail = str(exc).strip() or type(exc).__name__
    return LoadError(
        path,
        f"is not a readable PDF ({detail})",
        "re-export or re-download it",
        category="corrupt PDF",
    )


def _page_start_offsets(page_texts: list[str]) -> list[int]:
    starts, offset = [], 0
    for text in page_texts:
        starts.append(offset)
        offset += len(text) + len(PDF_PAGE_SEPARATOR)
    return starts


def _pdf_metadata_title(reader: pypdf.PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - a broken info dictionary must not lose the text
        return None
    return title.strip() if isinstance(title, str) and title.strip() else None


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------


def _load_docx(path: Path) -> tuple[str, dict]:
    # python-docx raises PackageNotFoundError, BadZipFile, KeyError or lxml errors on files
    # that are not a valid Word package; all of them mean "corrupt".
    try:
        word_doc = docx.Document(str(path))
        blocks = [_docx_block_text(block) for block in word_doc.iter_inner_content()]
        core_title = word_doc.core_properties.title
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        raise not_a_docx(path, exc) from None
    text = "\n\n".join(block for block in blocks if block)
    title = _first_markdown_heading(text) or (core_title or "").strip() or None
    return text, {"title": title}


def _docx_block_text(block: Paragraph | Table) -> str:
    if isinstance(block, Table):
        return _docx_table_text(block)
    return _docx_paragraph_text(block)


def _docx_paragraph_text(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    level = _docx_heading_level(paragraph.style.name if paragraph.style else "")
    return f"{'#' * level} {text}" if text and level else text


def _docx_heading_level(style_name: str) -> int:
    """Word's built-in "Title" and "Heading N" styles map to Markdown heading levels."""
    if style_name == "Title":
        return 1
    match = re.fullmatch(r"Heading ([1-9])", style_name)
    return min(int(match.group(1)), 6) if match else 0


def _docx_table_text(table: Table) -> str:
    """One line per row, cells joined with " | "; rows with no text are dropped."""
    rows = [" | ".join(" ".join(cell.text.split()) for cell in _distinct_cells(row)) for row in table.rows]
    return "\n".join(row for row in rows if row.strip(" |"))


def _distinct_cells(row) -> list:
    # python-docx returns a horizontally merged cell once per grid column it spans; list it once.
    cells = []
    for cell in row.cells:
        if not cells or cell._tc is not cells[-1]._tc:
            cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

EXTRACTORS: dict[str, Callable[[Path], tuple[str, dict]]] = {
    "text": _read_text_file,
    "markdown": _load_markdown,
    "html": _load_html,
    "pdf": _load_pdf,
    "docx": _load_docx,
}


def not_a_docx(path: Path, problem: Exception) -> LoadError:
    """The one message for a file that is not a readable .docx (the reader and the size check)."""
    return LoadError(path, f"is not a valid Word .docx file ({problem})",
                     "open and re-save it in Word/LibreOffice as .docx (old .doc files must be converted)",
                     category="corrupt DOCX")
