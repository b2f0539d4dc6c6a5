"""Turn files on disk into :class:`~ragft.types.Document` records.

One function per format extracts plain text; :func:`load_document` dispatches on the file
extension and adds the shared metadata, and :func:`load_folder` walks a folder, loading what it
can and reporting what it could not. Every problem with an input file becomes a
:class:`LoadError` whose message reads ``"<path>: <reason> — <what to do>"``, so the CLI can
print it as one line instead of a library traceback.

Text conventions (the chunkers rely on them):

* line endings are normalised to ``\\n``;
* HTML and DOCX headings are written as Markdown ATX headings (``## Parental leave``) and
  blocks are separated by a blank line, so every format looks like Markdown to the chunkers
  and :class:`~ragft.corpus.recursive.RecursiveChunker` can report heading paths for all of
  them;
* PDF page texts are joined with a blank line and ``metadata["page_starts"]`` holds the
  offset at which each page begins (see :func:`page_for_offset`).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pypdf
from bs4 import BeautifulSoup, NavigableString
from docx.opc.exceptions import OpcError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ragft.errors import RagftError
from ragft.types import Document

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


class LoadError(RagftError):
    """A file could not be turned into a Document.

    ``category`` is a short label ("corrupt PDF", "not text", …) that
    :meth:`LoadReport.summary` groups skipped files by.
    """

    def __init__(self, path: Path | str, reason: str, hint: str, category: str = "unreadable"):
        super().__init__(f"{path}: {reason} — {hint}")
        self.path = Path(path)
        self.reason = reason
        self.hint = hint
        self.category = category


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
    controls = sum(1 for ch in text if ch not in "\t\n\r\f" and unicodedata.category(ch) == "Cc")
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
    match = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def _load_markdown(path: Path) -> tuple[str, dict]:
    text, metadata = _read_text_file(path)
    metadata["title"] = _first_markdown_heading(text)
    return text, metadata


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

# Content that is never part of the document's prose.
HTML_DROPPED_TAGS = ("script", "style", "noscript", "template", "nav", "head")
HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Elements that start a new paragraph (blank line) or a new line of their own.
HTML_PARAGRAPH_TAGS = (
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
    "pre", "table", "ul", "ol", "dl", "figure", "form", "hr", *HTML_HEADINGS,
)
HTML_LINE_TAGS = ("li", "tr", "dt", "dd", "figcaption", "caption")


def _load_html(path: Path) -> tuple[str, dict]:
    markup, metadata = _read_text_file(path)
    # html.parser is the standard-library parser: no optional lxml/html5lib dependency and the
    # same result on every machine.
    soup = BeautifulSoup(markup, "html.parser")
    metadata["title"] = _html_title(soup)
    for tag in soup.find_all(HTML_DROPPED_TAGS):
        tag.decompose()
    return _html_block_text(soup), metadata


def _html_title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None and tag.get_text(strip=True):
            return " ".join(tag.get_text().split())
    return None


def _html_block_text(soup: BeautifulSoup) -> str:
    """Render the soup as text in which every block element starts on its own line."""
    _collapse_html_whitespace(soup)
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for cell in soup.find_all(["td", "th"]):
        if cell.find_previous_sibling(["td", "th"]) is not None:
            cell.insert_before(" | ")
    for heading in soup.find_all(HTML_HEADINGS):
        title = " ".join(heading.get_text().split())
        if title:  # as a Markdown heading, so the chunkers see the document's structure
            heading.string = "#" * int(heading.name[1]) + " " + title
    for tag in soup.find_all(HTML_PARAGRAPH_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in soup.find_all(HTML_LINE_TAGS):
        # After only: consecutive list items/rows then sit on consecutive lines, no blank line.
        tag.insert_after("\n")
    return _tidy_lines(soup.get_text())


def _collapse_html_whitespace(soup: BeautifulSoup) -> None:
    """Apply HTML's own rule (runs of whitespace render as one space), except inside <pre>."""
    for string in soup.find_all(string=True):
        # Exact type check: Comment and Doctype subclass NavigableString and must stay hidden.
        if type(string) is NavigableString and string.find_parent("pre") is None:
            string.replace_with(re.sub(r"\s+", " ", str(string)))


def _tidy_lines(text: str) -> str:
    """Strip every line and keep at most one blank line between blocks."""
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


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
        return [_normalise_newlines(page.extract_text() or "").strip() for page in reader.pages]
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


def page_for_offset(page_starts: list[int], offset: int) -> int:
    """1-based page number of the character at ``offset`` in a PDF Document's text."""
    return max(1, bisect.bisect_right(page_starts, offset))


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
        raise LoadError(
            path,
            f"is not a valid Word .docx file ({exc})",
            "open and re-save it in Word/LibreOffice as .docx (old .doc files must be converted)",
            category="corrupt DOCX",
        ) from None
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
# One document
# ---------------------------------------------------------------------------------------------

EXTRACTORS: dict[str, Callable[[Path], tuple[str, dict]]] = {
    "text": _read_text_file,
    "markdown": _load_markdown,
    "html": _load_html,
    "pdf": _load_pdf,
    "docx": _load_docx,
}


def load_document(path: Path, root: Path | None = None) -> Document:
    """Load one file as a Document.

    ``doc_id`` is the path relative to ``root`` with forward slashes (the file name when
    ``root`` is None). Raises :class:`LoadError` for any file that cannot be loaded.
    """
    path = Path(path)
    stat = _stat_regular_file(path)
    doc_format = _format_of(path)
    if stat.st_size == 0:
        raise LoadError(path, "is empty (0 bytes)", "add content or remove it", category="empty file")
    try:
        text, metadata = EXTRACTORS[doc_format](path)
    except OSError as exc:
        raise LoadError(path, f"cannot be read ({exc.strerror or exc})", "check its permissions") from None
    text = _normalise_newlines(text)
    if not text.strip():
        raise LoadError(path, "contains only whitespace", "add content or remove it", category="empty file")
    metadata = {
        "format": doc_format,
        **metadata,
        "title": metadata.get("title") or path.stem,
        "size_bytes": stat.st_size,
        "content_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "mtime": stat.st_mtime,
    }
    return Document(doc_id=_doc_id(path, root), text=text, source=str(path.resolve()), metadata=metadata)


def _format_of(path: Path) -> str:
    doc_format = FORMATS.get(path.suffix.lower())
    if doc_format is None:
        raise LoadError(
            path,
            f"has an unsupported extension {path.suffix or '(none)'!r}",
            f"convert it to one of {', '.join(SUPPORTED_EXTENSIONS)}",
            category="unsupported",
        )
    return doc_format


def _stat_regular_file(path: Path) -> os.stat_result:
    if not path.exists():
        raise LoadError(path, "does not exist", "check the path", category="missing")
    if not path.is_file():
        raise LoadError(path, "is not a regular file", "pass a file or a folder of documents")
    try:
        return path.stat()
    except OSError as exc:
        raise LoadError(path, f"cannot be read ({exc.strerror or exc})", "check its permissions") from None


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _doc_id(path: Path, root: Path | None) -> str:
    if root is None:
        return path.name
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:  # the file lies outside root: fall back to its name rather than fail
        return path.name


# ---------------------------------------------------------------------------------------------
# A folder
# ---------------------------------------------------------------------------------------------


@dataclass
class SkippedFile:
    """A file that ``load_folder`` could not load, and why."""

    path: Path
    reason: str  # "<reason> — <what to do>", without the path
    category: str = "unreadable"  # short label for grouping in summaries: "corrupt PDF", …


@dataclass
class LoadReport:
    """What ``load_folder`` loaded, what it skipped, and which files it ignored by extension."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    unsupported: list[Path] = field(default_factory=list)  # ignored silently, counted only

    def summary(self) -> str:
        """One line, e.g. "Loaded 27 documents; skipped 3 (2 corrupt PDF, 1 not text)"."""
        text = f"Loaded {_plural(len(self.documents), 'document')}"
        if self.skipped:
            counts = Counter(skipped.category for skipped in self.skipped)
            groups = ", ".join(f"{n} {category}" for category, n in counts.most_common())
            text += f"; skipped {len(self.skipped)} ({groups})"
        if self.unsupported:
            text += f"; ignored {_plural(len(self.unsupported), 'file')} with unsupported extensions"
        return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_folder(path: Path, progress: bool = False,
                on_progress: Callable[[str, int, int], None] | None = None) -> LoadReport:
    """Load every supported file under ``path`` (recursively, in sorted order).

    ``on_progress("loading documents", done, total)`` is called after each file, for callers
    with their own progress display. Hidden files and folders (``.git``, ``.DS_Store``) are skipped; files with unsupported
    extensions are only counted. One bad file never stops the walk: it lands in
    ``report.skipped`` with its reason. ``path`` may also be a single file. Raises
    :class:`LoadError` only when ``path`` itself is missing or not a file/folder.
    """
    path = Path(path)
    if not path.exists():
        raise LoadError(path, "folder not found", "check the path", category="missing")
    if path.is_file():
        files, root = [path], path.parent
    elif path.is_dir():
        files, root = list(_visible_files(path)), path
    else:
        raise LoadError(path, "is not a folder or a file", "pass a folder of documents")

    report = LoadReport()
    single_file = path.is_file()
    for done, file in enumerate(_with_progress(files, progress), start=1):
        _load_into_report(file, root, report, single_file)
        if on_progress is not None:
            on_progress("loading documents", done, len(files))
    return report


def _load_into_report(file: Path, root: Path, report: LoadReport, single_file: bool) -> None:
    # A single file the user named explicitly is reported even when its type is unsupported.
    if not single_file and file.suffix.lower() not in FORMATS:
        report.unsupported.append(file)
        return
    try:
        report.documents.append(load_document(file, root))
    except LoadError as error:
        report.skipped.append(SkippedFile(file, f"{error.reason} — {error.hint}", error.category))


def _visible_files(root: Path) -> Iterator[Path]:
    """Files under root in sorted order, pruning hidden files and folders."""
    for folder, subfolders, filenames in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(folder) / name


def _with_progress(files: list[Path], progress: bool) -> Iterable[Path]:
    if not progress:
        return files
    # Imported lazily: rich is only needed for the interactive bar.
    from rich.console import Console
    from rich.progress import track

    # stderr keeps stdout clean for whatever the caller prints (e.g. JSON output).
    return track(files, description="Loading documents", console=Console(stderr=True), transient=True)
