"""Turn files on disk into :class:`~ragft.types.Document` records.

One function per format (:mod:`ragft.corpus.formats`) extracts plain text; :func:`load_document`
dispatches on the file extension and adds the shared metadata, and :func:`load_folder` walks a
folder, loading what it can and reporting what it could not. Every problem with an input file becomes a
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
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragft.corpus.formats import (
    EXTRACTORS,
    FORMATS,
    SUPPORTED_EXTENSIONS,
    LoadError,
    normalise_newlines,
)
from ragft.corpus.limits import check_input_size
from ragft.persist import text_sha256
from ragft.types import Document

# ---------------------------------------------------------------------------------------------
# One document
# ---------------------------------------------------------------------------------------------


def load_document(path: Path, root: Path | None = None) -> Document:
    """Load one file as a Document.

    ``doc_id`` is the path relative to ``root`` with forward slashes (the file name when
    ``root`` is None). Raises :class:`LoadError` for any file that cannot be loaded, including
    one over the size limits in :mod:`ragft.corpus.limits`.
    """
    path = Path(path)
    stat = _stat_regular_file(path)
    doc_format = _format_of(path)
    if stat.st_size == 0:
        raise LoadError(path, "is empty (0 bytes)", "add content or remove it", category="empty file")
    check_input_size(path, doc_format, stat.st_size)  # before reading or decompressing anything
    try:
        text, metadata = EXTRACTORS[doc_format](path)
    except OSError as exc:
        raise LoadError(path, f"cannot be read ({exc.strerror or exc})", "check its permissions") from None
    text = normalise_newlines(text)
    if not text.strip():
        raise LoadError(path, "contains only whitespace", "add content or remove it", category="empty file")
    metadata = {
        "format": doc_format,
        **metadata,
        "title": metadata.get("title") or path.stem,
        "size_bytes": stat.st_size,
        "content_sha256": text_sha256(text),
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


def _doc_id(path: Path, root: Path | None) -> str:
    if root is None:
        return path.name
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:  # the file lies outside root: fall back to its name rather than fail
        return path.name


def page_for_offset(page_starts: list[int], offset: int) -> int:
    """1-based page number of the character at ``offset`` in a PDF Document's text."""
    return max(1, bisect.bisect_right(page_starts, offset))


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
