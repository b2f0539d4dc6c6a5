"""Size limits on input files, checked before anything is read or decompressed.

One settings object, :data:`INPUT_LIMITS`, holds them all; :func:`check_input_size` is called
by :func:`~ragft.corpus.loaders.load_document` right after ``stat``. A file over a limit is a
:class:`~ragft.corpus.formats.LoadError` — a skipped file with one line saying why — never an
ingest that runs for minutes or a memory spike. Change a limit for a whole run with e.g.
``INPUT_LIMITS.max_file_bytes["text"] = 200 * MB``.

Why these numbers: extraction and chunking are linear, but a 50 MB text is ~100,000 chunks to
embed (an hour on a CPU), and an HTML page is parsed at ~0.5 MB/s into a tree ~75× its size
(a 2 MB page: 3.8 s and 150 MB), so HTML gets a lower limit.
PDF and DOCX files are mostly images and compressed streams, so their byte size says less
about their text and gets a higher limit.

A DOCX is a zip: its directory says how big each part is once decompressed, so a zip bomb is
refused from the directory alone, before python-docx decompresses anything. The directory
cannot lie to us: Python's ``zipfile`` never returns more bytes than a part's declared size.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ragft.corpus.formats import LoadError, not_a_docx

MB = 1024 * 1024


def _default_max_file_bytes() -> dict[str, int]:
    return {"text": 50 * MB, "markdown": 50 * MB, "html": 10 * MB, "pdf": 200 * MB, "docx": 200 * MB}


@dataclass
class InputLimits:
    """The limits every loaded file is checked against (see the module doc for the reasons)."""

    # Per format (the names of ragft.corpus.formats.FORMATS), on the file's size on disk.
    max_file_bytes: dict[str, int] = field(default_factory=_default_max_file_bytes)
    # DOCX: all parts together once decompressed (python-docx holds every part in memory).
    docx_max_unzipped_bytes: int = 256 * MB
    # DOCX: a part may decompress to at most this many times its compressed size; Word's XML
    # compresses 5–20×, a zip bomb ~1000×. Parts smaller than docx_ratio_floor are not checked.
    docx_max_compression_ratio: float = 100.0
    docx_ratio_floor: int = 1 * MB


INPUT_LIMITS = InputLimits()


def check_input_size(path: Path, doc_format: str, size: int) -> None:
    """Raise LoadError when the file (``size`` bytes on disk) is over a limit for its format."""
    limit = INPUT_LIMITS.max_file_bytes.get(doc_format)
    if limit is not None and size > limit:
        raise LoadError(
            path,
            f"is {_megabytes(size)}, over the {_megabytes(limit)} limit for {doc_format} files",
            "split it into smaller files (or raise ragft.corpus.limits.INPUT_LIMITS)",
            category="too large",
        )
    if doc_format == "docx":
        check_docx_archive(path)


def check_docx_archive(path: Path) -> None:
    """Refuse a DOCX whose parts would decompress to too much, reading only the zip directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise not_a_docx(path, exc) from None
    limits = INPUT_LIMITS
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > limits.docx_ratio_floor and ratio > limits.docx_max_compression_ratio:
            raise LoadError(
                path,
                f"has a part {part.filename!r} that would decompress to {_megabytes(part.file_size)}, "
                f"{ratio:,.0f}× its compressed size (limit {limits.docx_max_compression_ratio:,.0f}×): "
                "a zip bomb or a damaged file",
                "re-save it in Word/LibreOffice, or remove it",
                category="zip bomb",
            )
    total = sum(part.file_size for part in parts)
    if total > limits.docx_max_unzipped_bytes:
        raise LoadError(
            path,
            f"would decompress to {_megabytes(total)}, over the "
            f"{_megabytes(limits.docx_max_unzipped_bytes)} limit for DOCX contents",
            "split it into smaller documents or remove large embedded media "
            "(or raise ragft.corpus.limits.INPUT_LIMITS)",
            category="too large",
        )


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f} MB" if size < 1024 * MB else f"{size / (1024 * MB):,.1f} GB"
