"""Do answers loop? The 65 sample test questions asked as ``ragft ask`` asks them by default
(naive hybrid RAG with the workspace's default LLM settings), with and without the loop guards
of ``ragft.models.loops`` (a stop once the generated tokens repeat, and the repeated tail trimmed).

    .venv/bin/python benchmarks/loops.py [--n 65] [--without-guards-too]

Counts answers with a repeated line or sentence, or a generated 8-word run seen twice, and the
mean token F1 against the gold answers, so the guards are seen not to cost quality.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragft.corpus import load_qa_file  # noqa: E402
from ragft.data import sample_docs_dir, sample_qa_path  # noqa: E402
from ragft.metrics.tasks import ANSWER_METRICS  # noqa: E402
from ragft.serve.engine import Engine  # noqa: E402
from ragft.workspace import Workspace, ingest  # noqa: E402


def repeated_line(text: str) -> bool:
    """A (non-empty) line or sentence that repeats an earlier one: the loops users see."""
    parts = [p.strip().lower().rstrip(".!?;:, ") for p in re.split(r"(?<=[.!?])\s+|\n+", text)]
    parts = [p for p in parts if p]
    return len(parts) != len(set(parts))


def repeated_run(text: str) -> bool:
    """Any 8-word run (case-folded) that occurs twice — a stricter count, catching echoed phrases too."""
    words = text.lower().split()
    runs = [tuple(words[i:i + 8]) for i in range(max(len(words) - 7, 0))]
    return len(runs) != len(set(runs))


def loops(text: str) -> bool:
    return repeated_line(text) or repeated_run(text)


def run(engine: Engine, questions, guards: bool) -> tuple[float, float, list[str]]:
    import ragft.models.llm as llm_module

    saved = (llm_module.trim_repetition, llm_module.repeat_stop)
    if not guards:  # the generation as it was before the guards
        llm_module.trim_repetition = lambda text: text.strip()
        llm_module.repeat_stop = lambda width: _never()
    try:
        served = engine.default_variant("rag")
        started = time.perf_counter()
        answers = engine.models.answerer(served.spec).answer_batch([q.question for q in questions])
        seconds = time.perf_counter() - started
    finally:
        llm_module.trim_repetition, llm_module.repeat_stop = saved
    f1 = ANSWER_METRICS["token_f1"]
    texts = [a.text for a in answers]
    return sum(f1(t, q.answers) for t, q in zip(texts, questions)) / len(questions), seconds, texts


def _never():
    import torch
    from transformers import StoppingCriteria

    class Never(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return Never()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=65)
    parser.add_argument("--without-guards-too", action="store_true")
    parser.add_argument("--dump", type=Path, help="write every answer to this JSON file")
    args = parser.parse_args()
    questions = load_qa_file(sample_qa_path("test"))[:args.n]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        engine = Engine(workspace)
        ingest(workspace, sample_docs_dir(), workspace.load_config(), engine.embedder())
        engine.reload_index()
        print(f"{len(questions)} questions, {engine.config.llm.model}, max_new_tokens "
              f"{engine.config.llm.max_new_tokens}, {engine.config.retrieval.mode} top {engine.config.retrieval.top_k}",
              file=sys.stderr)
        dumped = {}
        for guards in ([False, True] if args.without_guards_too else [True]):
            f1, seconds, texts = run(engine, questions, guards)
            lines, runs = sum(map(repeated_line, texts)), sum(map(repeated_run, texts))
            print(f"guards={'on ' if guards else 'off'}  repeated line/sentence {lines}/{len(questions)}  "
                  f"repeated 8-word run {runs}/{len(questions)}  token F1 {f1:.3f}  {seconds:.0f} s")
            for text in [t for t in texts if loops(t)][:3]:
                print(f"    e.g. {text[:100]!r}")
            dumped["on" if guards else "off"] = texts
        if args.dump:
            args.dump.write_text(json.dumps(dumped, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
