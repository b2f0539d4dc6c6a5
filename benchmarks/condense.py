"""Conversational RAG: does a follow-up retrieve the right document, alone or condensed?

    .venv/bin/python benchmarks/condense.py [--llm] [--k 5] [--mode hybrid]

On the built-in sample's 26 two-turn dialogues (ragft/data/sample/multiturn.jsonl): hit@k of the
follow-up's gold document when retrieval searches with the follow-up as typed (``none``), with
the ``auto`` condense step (the previous question put in front when the follow-up leans on it),
with ``always`` and, with ``--llm``, with the built-in generator rewriting the follow-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragft.config import LLMConfig, WorkspaceConfig  # noqa: E402
from ragft.data import SAMPLE_DIR, sample_docs_dir  # noqa: E402
from ragft.models import load_embedder, load_llm  # noqa: E402
from ragft.rag.conversation import Turn, condense  # noqa: E402
from ragft.workspace import Workspace, ingest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="store_true", help="also measure the LLM rewrite (built-in 135M)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--mode", default="hybrid", choices=["dense", "bm25", "hybrid"])
    args = parser.parse_args()
    dialogues = [json.loads(line) for line in (SAMPLE_DIR / "multiturn.jsonl").read_text().splitlines()]
    config = WorkspaceConfig()
    embedder = load_embedder(config.embedder)
    methods = ["none", "auto", "always"] + (["llm"] if args.llm else [])
    llm = load_llm(LLMConfig(max_new_tokens=48), progress=False) if args.llm else None
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        ingest(workspace, sample_docs_dir(), config, embedder)
        index = workspace.load_index(embedder)
        print(f"{len(dialogues)} dialogues, {len(index.chunks)} chunks, {args.mode} retrieval, hit@{args.k} "
              "of the follow-up's gold document", file=sys.stderr)
        for method in methods:
            hits, started = 0, time.perf_counter()
            for dialogue in dialogues:
                first, follow_up = (t["question"] for t in dialogue["turns"])
                query = condense([Turn(first)], follow_up, method, llm)
                found = {h.chunk.doc_id for h in index.search(query, k=args.k, mode=args.mode)}
                hits += bool(found & set(dialogue["evidence_doc_ids"]))
            seconds = (time.perf_counter() - started) / len(dialogues)
            print(f"condense={method:7} hit@{args.k} {hits / len(dialogues):.3f} ({hits}/{len(dialogues)})  "
                  f"{seconds * 1000:.0f} ms per follow-up")


if __name__ == "__main__":
    main()
