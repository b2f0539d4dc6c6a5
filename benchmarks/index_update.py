"""Changing one document of a large index: a new segment (ragft now) vs the whole version rewritten (before).

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/index_update.py --size 100000 --rounds 2
    ... --size 1000000 --rounds 2 --no-rewrite

The index is ``retrieval_scale.py``'s corpus (real CUAD chunks embedded by all-MiniLM-L6-v2 from
the ``real_vectors.py`` cache, filled up with mixed rows), saved once. Each round changes one
real contract (its text and so all its chunks) and ingests the corpus again two ways, interleaved:

- ``segment``  ``HybridIndex.build`` over the previous version, then ``save``: the changed
               document is chunked and embedded by the real embedder, and written as a new
               segment beside the untouched ones (what ``ragft ingest`` does now);
- ``rewrite``  the same index made and written whole into a fresh folder — BM25 built, chunks,
               vectors, BM25 and (at this size) the HNSW graph written: what every ingest did
               before segments, less embedding the changed document and opening the old index.

Printed per round: wall and CPU seconds, bytes written (new files; of those, the manifest and
document table, see ragft/index/versions.py), the row count searched, and
the p50 of a hybrid top-10 search (``retrieval_scale.py``'s questions, embedded once) over the
index as it is then — one segment at first, one more per round. A BM25 search for the changed
text must find the changed document first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from real_vectors import load_real  # noqa: E402 (beside this script)
from latency import search_latencies_ms  # noqa: E402
from retrieval_scale import Remembered, corpus, manifest_of, questions_and_vectors  # noqa: E402

from ragft.config import EmbedderConfig  # noqa: E402
from ragft.corpus import make_chunker  # noqa: E402
from ragft.index import versions  # noqa: E402
from ragft.index.store import HybridIndex  # noqa: E402
from ragft.types import Document  # noqa: E402

CHUNKER = {"kind": "sentence", "params": {"max_chars": 400}}


def written(folder: Path, before: dict[str, int]) -> str:
    """Bytes in files of ``folder`` that ``before`` (path → size) did not have, and of those the
    bytes outside segments (the version's manifest and any new document table)."""
    new = {path: size for path, size in files(folder).items() if path not in before}
    outside = sum(size for path, size in new.items() if f"{os.sep}{versions.SEGMENTS}{os.sep}" not in path)
    return f"{sum(new.values()):,} | {outside:,}"


def files(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def timed(work) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    from ragft.models import load_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-rewrite", action="store_true", help="skip the rewrite rows (minutes at 1 M chunks)")
    args = parser.parse_args()
    chunks, vectors = load_real()
    if len(vectors) == 0:
        sys.exit("no cached real vectors — run benchmarks/real_vectors.py first")
    rows, matrix, real = corpus(args.size, chunks, vectors)
    embedder = load_embedder(EmbedderConfig())
    chunker = make_chunker(CHUNKER["kind"], **CHUNKER["params"])
    contracts = sorted({c.doc_id for c in rows[:real]})
    print(f"{len(rows):,} chunks ({real:,} real) in {len({c.doc_id for c in rows}):,} documents; "
          f"one real contract changed per round")
    questions, query_vectors, _ = questions_and_vectors()
    remembered = Remembered(embedder.name, query_vectors)

    def hybrid_p50() -> str:
        index = HybridIndex.load(folder, remembered)
        return f"{np.percentile(search_latencies_ms(index, questions, 'hybrid', k=10), 50):.1f} ms"

    print("| round | write | wall s | CPU s | of which embedding s | bytes written | of which manifest "
          "| chunks embedded | rows searched | segments | hybrid p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        manifest = manifest_of(rows, CHUNKER)
        HybridIndex(rows, matrix, manifest, embedder).save(folder)
        print(f"| 0 | first ingest | | | | | | | {len(rows):,} | 1 | {hybrid_p50()} |", flush=True)
        edited: dict[str, str] = {}
        for round_ in range(1, args.rounds + 1):
            changed = contracts[round_ - 1]
            text = " ".join(c.text for c in rows if c.doc_id == changed) + f" Amendment {round_} signed at Xylophone Harbour."
            edited[changed] = text  # earlier rounds' edits stay (unchanged since), the rest as first ingested
            documents = [Document(doc_id=d, text=edited[d], source=d) if d in edited else
                         Document(doc_id=d, text="", metadata={"content_sha256": "-"})
                         for d in manifest.documents]

            def segment():
                previous = HybridIndex.load(folder, embedder)
                index, stats = HybridIndex.build(documents, chunker, CHUNKER, embedder, previous=previous)
                index.save(folder)
                return index, stats

            before = files(folder)
            wall, cpu, (index, stats) = timed(segment)
            print(f"| {round_} | segment | {wall:.2f} | {cpu:.2f} | {stats.embed_seconds:.2f} | {written(folder, before)} | "
                  f"{stats.embedded_chunks} | {len(index.chunks):,} | {len(index.segments)} | {hybrid_p50()} |",
                  flush=True)
            top = HybridIndex.load(folder, embedder).search("Xylophone Harbour", k=1, mode="bm25")[0]
            assert top.chunk.doc_id == changed, top

            if args.no_rewrite:
                continue
            whole = Path(tmp) / f"rewrite-{round_}"
            live_chunks, live_vectors = list(index.chunks), np.asarray(index.embeddings)
            wall, cpu, _ = timed(lambda: HybridIndex(live_chunks, live_vectors, index.manifest, embedder).save(whole))
            print(f"| {round_} | rewrite | {wall:.2f} | {cpu:.2f} | - | {written(whole, {})} | - | "
                  f"{len(live_chunks):,} | 1 | |", flush=True)


if __name__ == "__main__":
    main()
