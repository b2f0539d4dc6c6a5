"""Bounded inputs: size limits and zip bombs are refused before reading, and pathological
shapes (deep HTML, one-line texts, long runs of dots) cost linear time."""

from __future__ import annotations

import time
import tracemalloc
import zipfile
from pathlib import Path

import docx
import pytest

from ragft.corpus.chunkers import make_chunker
from ragft.corpus.formats import LoadError
from ragft.corpus.limits import INPUT_LIMITS, MB
from ragft.corpus.loaders import load_document, load_folder
from ragft.corpus.recursive import markdown_headings
from ragft.corpus.sentences import split_sentences
from ragft.types import Document


def _seconds(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


# ---------------------------------------------------------------------------------------------
# Size limits
# ---------------------------------------------------------------------------------------------


def test_over_limit_file_is_skipped_with_one_line_before_reading(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(INPUT_LIMITS.max_file_bytes, "text", 1000)
    (tmp_path / "small.txt").write_text("fits " * 100)
    (tmp_path / "big.txt").write_text("too big " * 200)
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or b"")

    report = load_folder(tmp_path)

    assert read == [tmp_path / "small.txt"]  # big.txt was refused without being read
    skipped = {s.path.name: s for s in report.skipped}
    assert skipped["big.txt"].category == "too large"
    reason = skipped["big.txt"].reason
    assert "\n" not in reason and "over the 0.0 MB limit for text files" in reason
    assert "split it into smaller files" in reason
    assert "1 too large" in report.summary()


def test_limit_is_per_format(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(INPUT_LIMITS.max_file_bytes, "html", 10)
    path = tmp_path / "page.md"
    path.write_text("# Title\n\nA page well over ten bytes long.")
    assert load_document(path).metadata["title"] == "Title"
    html = tmp_path / "page.html"
    html.write_text("<p>A page well over ten bytes long.</p>")
    with pytest.raises(LoadError, match="limit for html files"):
        load_document(html)


def test_defaults_are_documented_sizes() -> None:
    limits = INPUT_LIMITS.max_file_bytes
    assert limits["text"] == limits["markdown"] == 50 * MB and limits["html"] == 10 * MB
    assert limits["pdf"] == limits["docx"] == 200 * MB


# ---------------------------------------------------------------------------------------------
# DOCX zip bombs
# ---------------------------------------------------------------------------------------------


def _docx_with_document_xml(path: Path, padding_bytes: int) -> Path:
    """A real DOCX whose word/document.xml is padded with ``padding_bytes`` of one repeated
    character inside an XML comment: it compresses about 1000×."""
    plain = path.with_name("plain.docx")
    document = docx.Document()
    document.add_paragraph("Hello.")
    document.save(str(plain))
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                with bomb.open(item.filename, "w", force_zip64=True) as part:
                    part.write(data[: data.index(b"<w:body>")] + b"<!--")
                    block = b"a" * MB
                    for _ in range(padding_bytes // MB):
                        part.write(block)
                    part.write(b"-->" + data[data.index(b"<w:body>"):])
            else:
                bomb.writestr(item, data)
    plain.unlink()
    return path


def test_zip_bomb_docx_is_skipped_from_the_zip_directory(tmp_path, monkeypatch) -> None:
    path = _docx_with_document_xml(tmp_path / "bomb.docx", 64 * MB)
    assert path.stat().st_size < 1 * MB
    opened = []
    monkeypatch.setattr(docx, "Document", lambda *args: opened.append(args))
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *args: opened.append(args))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *args, **kwargs: opened.append(args))

    tracemalloc.start()
    try:
        report = load_folder(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert opened == [] and peak < 5 * MB
    bomb = next(s for s in report.skipped if s.path.name == "bomb.docx")
    assert bomb.category == "zip bomb"
    assert "'word/document.xml' that would decompress to 64.0 MB" in bomb.reason
    assert "re-save it" in bomb.reason and "\n" not in bomb.reason


def test_docx_over_the_unzipped_total_is_skipped(tmp_path, monkeypatch) -> None:
    path = _docx_with_document_xml(tmp_path / "big.docx", 2 * MB)
    monkeypatch.setattr(INPUT_LIMITS, "docx_max_compression_ratio", 10_000.0)
    assert "Hello." in load_document(path).text  # the padding is a comment: a valid document
    monkeypatch.setattr(INPUT_LIMITS, "docx_max_unzipped_bytes", 1 * MB)
    with pytest.raises(LoadError, match=r"would decompress to 2\.\d MB, over the 1\.0 MB limit") as err:
        load_document(path)
    assert err.value.category == "too large"


def test_not_a_zip_docx_is_still_reported_as_corrupt(tmp_path) -> None:
    path = tmp_path / "fake.docx"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(LoadError, match="is not a valid Word .docx file") as err:
        load_document(path)
    assert err.value.category == "corrupt DOCX"


# ---------------------------------------------------------------------------------------------
# Linear time on pathological shapes
# ---------------------------------------------------------------------------------------------


def test_html_nested_100000_deep_loads_in_linear_time(tmp_path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 100_000 + "deep text" + "</div>" * 100_000)
    loaded = []
    seconds = _seconds(lambda: loaded.append(load_document(path)))
    assert loaded[0].text == "deep text"
    assert seconds < 5  # 2 s here; it was O(n²): 16,000 levels already took 13 s


def test_deep_headings_tables_and_pre_render_the_same_as_flat_ones(tmp_path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<h2>Leave <b>policy</b><br>2024</h2><table><tr><td>a</td><td>b</td><th>c</th></tr></table>"
        "<pre>  keep   this </pre><p>collapse   <!-- not text -->this</p>" + "<div>" * 5000 + "end"
    )
    text = load_document(path).text
    assert text == "## Leave policy 2024\n\na | b | c\n\nkeep   this\n\ncollapse this\n\nend"


def _one_line(megabytes: float) -> Document:
    size = int(megabytes * MB)
    return Document(doc_id="line", text=("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size], source="line")


@pytest.mark.parametrize("kind", ["fixed", "sentence", "recursive"])
def test_one_line_text_chunks_in_linear_time(kind: str) -> None:
    # 8x the text: linear work takes ~8x the time, quadratic ~64x; 20x leaves room for a busy machine.
    chunker = make_chunker(kind)
    small, large = _one_line(0.5), _one_line(4)
    small_seconds = min(_seconds(lambda: chunker.chunk(small)) for _ in range(3))
    large_seconds = min(_seconds(lambda: chunker.chunk(large)) for _ in range(2))
    assert large_seconds < 20 * small_seconds + 0.5
    assert large_seconds < 10


def test_recursive_chunker_memory_is_bounded_by_its_output() -> None:
    doc = _one_line(2)
    tracemalloc.start()
    try:
        chunks = make_chunker("recursive").chunk(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "".join(c.text + " " for c in chunks).split() == doc.text.split()
    assert peak < 10 * MB  # was ~70 MB: a span per word


def test_long_runs_of_dots_blanks_and_hashes_are_linear() -> None:
    run = 200_000  # at 40,000 these took 27 s and 5 s when the regexes backtracked
    assert _seconds(lambda: split_sentences("a" + "." * run + "b. Next one.")) < 1
    assert split_sentences("a" + "." * 5 + "b. Next one.") == [(0, 8), (9, 18)]
    assert _seconds(lambda: markdown_headings("# a" + " " * run + "b\n## x" + "#" * run + "y")) < 1
    assert [h.title for h in markdown_headings("## Leave ##\n# #\n###  Pay  # ")] == ["Leave", "#", "Pay"]
