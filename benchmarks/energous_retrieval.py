"""Does retrieval find the gold clause? The tutorial's 32 Energous questions, top-k, per mode.

    .venv/bin/python benchmarks/energous_retrieval.py [--datasets ../shared/datasets] [--k 5]

Setting as in the tutorial: the Energous contract alone, fixed chunks of 1024 characters with
256 overlap, top-5. A question counts as a hit when at least half of one of its gold CUAD
clauses lies inside the retrieved chunks (``ragft.metrics.evidence``). Also prints a sentence-
based and a recursive chunker for comparison, and example-based query expansion
(``example_queries``) with the labelled clauses of the other 99 CUAD contracts.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragft.config import EmbedderConfig  # noqa: E402
from ragft.corpus import load_document, make_chunker  # noqa: E402
from ragft.config import RetrievalConfig  # noqa: E402
from ragft.corpus.datasets import load_cuad, load_kdd_lab_qa  # noqa: E402
from ragft.metrics.evidence import best_coverage, evidence_hit, locate_all  # noqa: E402
from ragft.index.store import HybridIndex  # noqa: E402
from ragft.models import load_embedder  # noqa: E402
from ragft.rag.examples import ExampleQueries  # noqa: E402
from ragft.rag.modular import ModularRAG  # noqa: E402
from ragft.rag.steps import Retrieve  # noqa: E402

CONTRACT = "ENERGOUSCORP_03_16_2017-EX-10.24-STRATEGIC ALLIANCE AGREEMENT.txt"
CHUNKERS = {
    "fixed 1024/256 (tutorial)": ("fixed", {"size": 1024, "overlap": 256}),
    "sentence ≤600": ("sentence", {"max_chars": 600}),
    "recursive ≤1000": ("recursive", {"max_chars": 1000}),
}


def cell(spans: dict, hits: dict) -> str:
    """Hit rate over the questions, with the mean best coverage in brackets."""
    hit_rate = sum(evidence_hit(spans[qid], hits[qid]) for qid in hits) / len(hits)
    coverage = sum(best_coverage(spans[qid], hits[qid]) for qid in hits) / len(hits)
    return f"{hit_rate:6.3f} ({coverage:.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    cuad = args.datasets / "cuad-dev"
    if not cuad.exists():
        print(f"{args.datasets} not found: pass --datasets PATH_TO/shared/datasets", file=sys.stderr)
        return 2
    contract = load_document(cuad / "contracts" / CONTRACT, root=cuad / "contracts")
    questions = load_kdd_lab_qa(args.datasets / "kdd24-lab" / "ENERGOUSCORP_qa.csv", cuad)
    spans = {q.qid: locate_all({contract.doc_id: contract.text}, q.evidence_doc_ids, q.evidence_texts) for q in questions}
    located = sum(1 for s in spans.values() if s)
    print(f"{len(questions)} questions; gold clause located in the contract for {located}")
    embedder = load_embedder(EmbedderConfig())

    print(f"\nshare of questions whose gold clause is in the top-{args.k} (mean best coverage in brackets)")
    print(f"{'chunker':28} {'chunks':>6}  " + "  ".join(f"{m:>14}" for m in ("dense", "bm25", "hybrid")))
    indexes = {}
    for label, (kind, params) in CHUNKERS.items():
        index, _ = HybridIndex.build([contract], make_chunker(kind, **params), {"kind": kind, "params": params}, embedder)
        indexes[label] = index
        cells = [cell(spans, {q.qid: index.search(q.question, k=args.k, mode=mode) for q in questions})
                 for mode in ("dense", "bm25", "hybrid")]
        print(f"{label:28} {len(index.chunks):>6}  " + "  ".join(f"{c:>14}" for c in cells))

    # Example-based query expansion: the gold clauses of the *other* 99 contracts' same questions.
    index = indexes["fixed 1024/256 (tutorial)"]
    others = [e for e in load_cuad(cuad) if e.doc_scope != contract.doc_id]
    print(f"\nexample_queries (fixed 1024/256; examples: {len(others)} labelled questions on 99 other contracts)")
    print(f"{'examples, queries':28} {'':>6}  " + "  ".join(f"{m:>14}" for m in ("dense", "bm25", "hybrid")))
    for n_examples, max_queries in ((1, 1), (3, 3), (5, 5), (10, 10), (20, 20)):
        expand = ExampleQueries(others, embedder, n_examples=n_examples, max_queries=max_queries)
        cells = []
        for mode in ("dense", "bm25", "hybrid"):
            pipeline = ModularRAG([expand, Retrieve(index, RetrievalConfig(mode=mode, top_k=args.k))])
            cells.append(cell(spans, {q.qid: pipeline.answer(q.question, q.doc_scope).hits for q in questions}))
        print(f"{f'{n_examples}, {max_queries}':28} {'':>6}  " + "  ".join(f"{c:>14}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
