"""Ingestion and retrieval throughput, measured against the embedding model alone.

    .venv/bin/python benchmarks/ingest_retrieval.py [--datasets ../shared/datasets] [--queries 200]

For the built-in sample and the 100 CUAD contracts (when ../shared/datasets is present):
- ingest = load + chunk + embed + atomic save, in documents/s and chunks/s;
- the embedding model alone on the very same chunk texts (the ceiling ingestion can reach);
- re-ingesting the unchanged folder (only hashes are compared, nothing is re-embedded);
- retrieval latency per query, p50/p95, for dense, BM25 and hybrid search.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from ragft.config import EmbedderConfig, WorkspaceConfig  # noqa: E402
from ragft.corpus import load_qa_file  # noqa: E402
from ragft.data import sample_docs_dir, sample_qa_path  # noqa: E402
from ragft.corpus.datasets import load_cuad  # noqa: E402
from ragft.models import load_embedder  # noqa: E402
from ragft.workspace import Workspace, ingest  # noqa: E402

from latency import search_latencies_ms  # noqa: E402 (beside this script)


def bench_corpus(label: str, folder: Path, questions: list[str], embedder) -> None:
    config = WorkspaceConfig()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        started = time.perf_counter()
        report, stats = ingest(workspace, folder, config, embedder)
        total = time.perf_counter() - started
        index = workspace.load_index(embedder)

        texts = [c.text for c in index.chunks]
        started = time.perf_counter()
        embedder.embed(texts)
        raw = time.perf_counter() - started

        started = time.perf_counter()
        _, again = ingest(workspace, folder, config, embedder)
        reingest = time.perf_counter() - started

        print(f"\n== {label}: {len(report.documents)} documents, {stats.chunks} chunks "
              f"({config.chunker.kind} chunker), {sum(len(t) for t in texts) / 1e6:.1f} M characters")
        print(f"ingest (load+chunk+embed+save) {total:7.1f} s  {len(report.documents) / total:8.1f} docs/s  "
              f"{stats.chunks / total:8.1f} chunks/s")
        print(f"  of which embedding           {stats.embed_seconds:7.1f} s")
        print(f"embedding model alone          {raw:7.1f} s  {'':>8}         {len(texts) / raw:8.1f} chunks/s")
        print(f"re-ingest unchanged            {reingest:7.1f} s  ({again.embedded_chunks} chunks re-embedded)")
        for mode in ("dense", "bm25", "hybrid"):
            p50, p95 = np.percentile(search_latencies_ms(index, questions, mode), [50, 95])
            print(f"retrieval {mode:6} top-5         p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({len(questions)} queries)")


def _first_contracts(folder: Path, n: int, into: Path) -> Path:
    """A folder with copies of the first ``n`` contracts (all of them: the folder itself)."""
    files = sorted(folder.glob("*.txt"))
    if n >= len(files):
        return folder
    for file in files[:n]:
        shutil.copy(file, into / file.name)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--queries", type=int, default=200, help="CUAD queries to time")
    parser.add_argument("--contracts", type=int, default=100,
                        help="CUAD contracts to ingest (all 100 take ~10 minutes on 2 cores)")
    args = parser.parse_args()
    import torch

    print(f"CPU threads: {torch.get_num_threads()}, embedder: all-MiniLM-L6-v2 (built-in)")
    embedder = load_embedder(EmbedderConfig())
    embedder.embed(["warm-up"])
    sample_questions = [q.question for q in load_qa_file(sample_qa_path("test"))]
    bench_corpus("built-in sample", sample_docs_dir(), sample_questions, embedder)
    cuad = args.datasets / "cuad-dev"
    if cuad.exists():
        cuad_questions = [q.question for q in load_cuad(cuad, n=args.queries, seed=0)]
        with tempfile.TemporaryDirectory() as subset:
            folder = _first_contracts(cuad / "contracts", args.contracts, Path(subset))
            bench_corpus(f"CUAD, {args.contracts} contracts", folder, cuad_questions, embedder)
    else:
        print(f"\n(skipping CUAD: {cuad} not found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
