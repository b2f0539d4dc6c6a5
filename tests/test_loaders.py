"""Loaders: text extraction per format, one-line errors for bad files, folder reports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from ragft.corpus.formats import LoadError
from ragft.corpus.loaders import load_document, load_folder, page_for_offset
from ragft.errors import RagftError

# ---------------------------------------------------------------------------------------------
# Fixture builders
# ---------------------------------------------------------------------------------------------


def make_pdf(path: Path, pages: list[str], title: str | None = None, **encryption) -> Path:
    """A real PDF with one page per string (an empty string gives a page without text)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    if encryption:
        pdf.set_encryption(**encryption)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Employee handbook", level=1)
    document.add_paragraph("Welcome to the company.")
    document.add_heading("Leave", level=2)
    document.add_paragraph("Staff get 25 days of annual leave.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Kind", (0, 1): "Days", (1, 0): "Annual", (1, 1): "25"}.items():
        table.cell(row, col).text = text
    document.add_paragraph("Ask HR for details.")
    document.save(str(path))
    return path


HTML = """<!doctype html>
<html><head><title>Travel policy</title><style>body { color: red; }</style>
<script>console.log("tracking");</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Travel</h1>
<p>Book trains   when the trip is
under <b>four hours</b>.</p>
<!-- internal note -->
<h2>Hotels</h2><ul><li>Up to 150 EUR</li><li>Breakfast included</li></ul>
<script>var x = 1;</script></body></html>
"""


def load_error(path: Path) -> LoadError:
    with pytest.raises(LoadError) as caught:
        load_document(path)
    return caught.value


def assert_one_line_naming(error: Exception, path: Path, *phrases: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert " — " in message  # "<reason> — <what to do>"
    for phrase in phrases:
        assert phrase in message.lower()


# ---------------------------------------------------------------------------------------------
# Good files
# ---------------------------------------------------------------------------------------------


def test_text_file_and_shared_metadata(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First line.\r\nSecond line.\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.doc_id == "notes.txt"
    assert doc.text == "First line.\nSecond line.\n"  # line endings normalised
    assert doc.source == str(path.resolve())
    meta = doc.metadata
    assert meta["format"] == "text" and meta["title"] == "notes" and meta["encoding"] == "utf-8"
    assert meta["size_bytes"] == path.stat().st_size
    assert meta["content_sha256"] == hashlib.sha256(doc.text.encode()).hexdigest()
    assert meta["mtime"] == path.stat().st_mtime


def test_markdown_title_and_doc_id_relative_to_root(tmp_path: Path) -> None:
    path = tmp_path / "policies" / "leave.md"
    path.parent.mkdir()
    path.write_text("Intro\n\n# Leave policy\n\nText.\n", encoding="utf-8")
    doc = load_document(path, root=tmp_path)
    assert doc.doc_id == "policies/leave.md"
    assert doc.metadata["format"] == "markdown"
    assert doc.metadata["title"] == "Leave policy"
    assert "# Leave policy" in doc.text


def test_html_drops_chrome_and_keeps_blocks(tmp_path: Path) -> None:
    path = tmp_path / "travel.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_document(path)
    assert doc.metadata["title"] == "Travel policy"
    for hidden in ("console.log", "color: red", "var x", "Home", "internal note"):
        assert hidden not in doc.text
    lines = doc.text.split("\n")
    assert "# Travel" in lines and "## Hotels" in lines
    assert "Book trains when the trip is under four hours." in lines
    assert "Up to 150 EUR\nBreakfast included" in doc.text


def test_pdf_pages_offsets_and_title(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "guide.pdf", ["Page one text.", "Page two text."], title="The Guide")
    doc = load_document(path)
    assert doc.text == "Page one text.\n\nPage two text."
    meta = doc.metadata
    assert meta["format"] == "pdf" and meta["title"] == "The Guide" and meta["page_count"] == 2
    second = doc.text.index("Page two")
    assert meta["page_starts"] == [0, second]
    assert page_for_offset(meta["page_starts"], 0) == 1
    assert page_for_offset(meta["page_starts"], second) == 2


def test_pdf_with_owner_password_only_opens(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "restricted.pdf", ["Readable text."], owner_password="owner")
    assert load_document(path).text == "Readable text."


def test_docx_headings_paragraphs_and_table(tmp_path: Path) -> None:
    doc = load_document(make_docx(tmp_path / "handbook.docx"))
    assert doc.metadata["format"] == "docx"
    assert doc.metadata["title"] == "Employee handbook"
    assert doc.text.split("\n\n") == [
        "# Employee handbook",
        "Welcome to the company.",
        "## Leave",
        "Staff get 25 days of annual leave.",
        "Kind | Days\nAnnual | 25",
        "Ask HR for details.",
    ]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Caf\u00e9 \u2018quoted\u2019 \u20ac5".encode("cp1252"), "cp1252"),
        ("\ufeffHello UTF-16 caf\u00e9".encode("utf-16-le"), "utf-16"),
        ("\ufeffWith a UTF-8 BOM".encode("utf-8"), "utf-8-sig"),
    ],
)
def test_text_encodings(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(data)
    doc = load_document(path)
    assert doc.metadata["encoding"] == encoding
    assert "\ufeff" not in doc.text
    assert doc.text.startswith(("Caf\u00e9 \u2018quoted\u2019 \u20ac5", "Hello UTF-16 caf\u00e9", "With"))


# ---------------------------------------------------------------------------------------------
# Bad files: one-line LoadError naming the file and the reason
# ---------------------------------------------------------------------------------------------


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "secret.pdf", ["Secret."], owner_password="o", user_password="u")
    error = load_error(path)
    assert error.category == "encrypted PDF"
    assert_one_line_naming(error, path, "encrypted")


def test_pdf_without_text_needs_ocr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [""])
    error = load_error(path)
    assert_one_line_naming(error, path, "no extractable text", "ocr")


def test_truncated_pdf(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["Some text."]).read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(good[: len(good) // 2])
    error = load_error(path)
    assert error.category == "corrupt PDF"
    assert_one_line_naming(error, path, "not a readable pdf")
    assert isinstance(error, RagftError)


def test_binary_renamed_txt(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    error = load_error(path)
    assert error.category == "not text"
    assert_one_line_naming(error, path, "binary")


def test_binary_without_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob.md"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 65, 66, 67]) * 30)
    assert_one_line_naming(load_error(path), path, "control characters")


def test_bytes_that_are_neither_utf8_nor_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(b"price \x81\x8d\x90 list")  # C1 bytes cp1252 leaves undefined
    error = load_error(path)
    assert error.category == "unknown encoding"
    assert_one_line_naming(error, path, "utf-8")


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [("empty.txt", b"", "0 bytes"), ("blank.md", b" \n\t\n", "whitespace")],
)
def test_empty_files(tmp_path: Path, name: str, data: bytes, phrase: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    error = load_error(path)
    assert error.category == "empty file"
    assert_one_line_naming(error, path, phrase)


def test_corrupt_docx(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"this was never a zip archive")
    error = load_error(path)
    assert error.category == "corrupt DOCX"
    assert_one_line_naming(error, path, "not a valid word")


def test_unsupported_extension_and_missing_file(tmp_path: Path) -> None:
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"PK")
    assert_one_line_naming(load_error(sheet), sheet, "unsupported extension", ".xlsx")
    missing = tmp_path / "gone.txt"
    assert_one_line_naming(load_error(missing), missing, "does not exist")


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------


def make_mixed_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.txt").write_text("ref: refs/heads/main")
    (root / ".hidden.md").write_text("# Hidden")
    (root / "a.md").write_text("# A\n\nAlpha.")
    (root / "sub" / "b.txt").write_text("Beta.")
    (root / "sub" / "c.html").write_text(HTML)
    make_pdf(root / "sub" / "d.pdf", ["Delta."])
    make_docx(root / "e.docx")
    (root / "bad1.pdf").write_bytes(b"%PDF-1.4\nnot really")
    (root / "bad2.pdf").write_bytes(b"%PDF")
    (root / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "photo.jpg").write_bytes(b"\xff\xd8")
    return root


def test_load_folder_loads_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    report = load_folder(make_mixed_folder(tmp_path / "corpus"))
    assert [d.doc_id for d in report.documents] == ["a.md", "e.docx", "sub/b.txt", "sub/c.html", "sub/d.pdf"]
    assert {(s.path.name, s.category) for s in report.skipped} == {
        ("bad1.pdf", "corrupt PDF"),
        ("bad2.pdf", "corrupt PDF"),
        ("blob.txt", "not text"),
    }
    assert all(s.reason and " — " in s.reason for s in report.skipped)
    assert [p.name for p in report.unsupported] == ["photo.jpg"]
    assert report.summary() == (
        "Loaded 5 documents; skipped 3 (2 corrupt PDF, 1 not text); "
        "ignored 1 file with unsupported extensions"
    )


def test_load_folder_with_progress_bar(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha.")
    report = load_folder(tmp_path, progress=True)
    assert report.summary() == "Loaded 1 document"


def test_load_folder_accepts_a_single_file(tmp_path: Path) -> None:
    path = tmp_path / "only.md"
    path.write_text("# Only")
    report = load_folder(path)
    assert [d.doc_id for d in report.documents] == ["only.md"]


def test_load_folder_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(LoadError) as caught:
        load_folder(missing)
    assert_one_line_naming(caught.value, missing, "not found")
