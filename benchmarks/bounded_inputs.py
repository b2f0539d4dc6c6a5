"""Timings behind the input bounds (docs/ingest-and-ask.md, "Bad input never stops an ingest").

Deeply nested HTML through the loader, and one-line texts through each chunker: wall time of a
plain run, then the tracemalloc peak of a second run (tracemalloc slows allocation-heavy code,
so it is kept out of the timing).

    python benchmarks/bounded_inputs.py html [depth ...]     # default 2000 8000 32000 100000
    python benchmarks/bounded_inputs.py chunk [megabytes ...]  # default 5 50
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from ragft.corpus.chunkers import make_chunker
from ragft.corpus.formats import LoadError
from ragft.corpus.loaders import load_document
from ragft.types import Document


def _run(fn):
    try:
        return fn()
    except LoadError as err:
        return f"skipped: {err.reason}"


def _measure(fn) -> tuple[object, float, float]:
    """(result, seconds, tracemalloc peak in MB)."""
    began = time.perf_counter()
    result = _run(fn)
    seconds = time.perf_counter() - began
    del result
    tracemalloc.start()
    result = _run(fn)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def html_depths(depths: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for depth in depths:
            path = Path(folder) / f"deep{depth}.html"
            path.write_text("<div>" * depth + "text" + "</div>" * depth)
            result, seconds, peak = _measure(lambda: load_document(path))
            outcome = result if isinstance(result, str) else f"{len(result.text)} chars"
            print(f"html depth {depth:>7}: {seconds:7.2f} s  peak {peak:7.1f} MB  {outcome}", flush=True)


ONE_LINE_KINDS = {
    "words": lambda n: ("lorem ipsum dolor sit amet " * (n // 27 + 1))[:n],
    "periods": lambda n: ("lorem.ipsum.dolor.sit.amet." * (n // 27 + 1))[:n],
}


def one_line_chunking(megabytes: list[float]) -> None:
    for kind, make in ONE_LINE_KINDS.items():
        for mb in megabytes:
            doc = Document(doc_id="one-line", text=make(int(mb * 2**20)), source="one-line")
            for name in ("fixed", "sentence", "recursive"):
                chunker = make_chunker(name)
                chunks, seconds, peak = _measure(lambda: chunker.chunk(doc))
                print(f"{kind:>7} {mb:5.1f} MB {name:>9}: {seconds:7.2f} s  peak {peak:7.1f} MB"
                      f"  {len(chunks)} chunks", flush=True)


if __name__ == "__main__":
    what, sizes = (sys.argv[1] if len(sys.argv) > 1 else "html"), sys.argv[2:]
    if what == "html":
        html_depths([int(s) for s in sizes] or [2000, 8000, 32000, 100000])
    else:
        one_line_chunking([float(s) for s in sizes] or [5, 50])
