"""LLM extraction: :class:`LLMExtractor` asks a model for ``subject | relation | object`` lines,
batched; :func:`parse_triples` reads them robustly (bullets, numbering, quotes, ``(s, r, o)``
tuples, ``s -> r -> o``). Answers are cached on disk (``cache_dir/graph/llm-triples.jsonl``, one
line per chunk, keyed by the hash of model name + prompt version + chunk text, appended and
fsynced per batch), so an interrupted build resumes where it stopped and a rebuild costs no LLM
call. Entity types come from the names' shapes (:func:`~.mentions.entity_type`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ragft.rag.graph.extract import ChunkFacts
from ragft.rag.graph.mentions import entity_type, normalise
from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary
from ragft.types import Chunk

LLM_PROMPT_VERSION = "triples-v1"
LLM_SYSTEM_PROMPT = (
    "You extract a knowledge graph from a text. Write every fact as one line in the form\n"
    "subject | relation | object\n"
    "Subjects and objects are named things exactly as written in the text: people, job roles, "
    "organisations, vessels, places, codes, amounts of money, dates, quantities. The relation is a "
    "short verb phrase, e.g. holds role, reports to, must be approved by, serves route, was built in. "
    "Write only the lines, nothing else."
)
LLM_EXAMPLE = ("Text:\nAileen Moffat, Chief Financial Officer, approves claims above £500.\n\nTriples:\n"
               "Aileen Moffat | holds role | Chief Financial Officer\n"
               "Chief Financial Officer | approves claims above | £500")
_TRIPLE_SPLIT = re.compile(r"\s*\|\s*|\s*->\s*|\s*→\s*|\s*;\s*")


def parse_triples(text: str, max_len: int = 80) -> list[tuple[str, str, str]]:
    """``subject | relation | object`` lines from a model's answer, tolerating bullets,
    numbering, bold, quotes, tuples ``(s, r, o)``, arrows and header lines; duplicates dropped."""
    triples, seen = [], set()
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^(?:[-*•]|\d+[.)]|\(\d+\))\s*", "", line).replace("**", "").strip()
        if not line:
            continue
        if line.startswith("(") and line.endswith(")") and "|" not in line:
            parts = [p for p in line[1:-1].split(",")]
            if len(parts) > 3:
                parts = [parts[0], parts[1], ",".join(parts[2:])]
        else:
            parts = _TRIPLE_SPLIT.split(line.strip("|"))
        parts = [p.strip().rstrip(".;,").strip("\"'`“”‘’[]").strip() for p in parts]
        if len(parts) < 3:
            continue
        subject, relation, obj = parts[0], parts[1], " ".join(p for p in parts[2:] if p)
        if not subject or not relation or not obj or len(subject) > max_len or len(obj) > max_len:
            continue
        if {subject.lower(), relation.lower()} <= {"subject", "relation", "object", "head", "tail"}:
            continue  # a header line
        relation = re.sub(r"\s+", " ", relation.lower()).strip(" .")
        key = (normalise(subject), relation, normalise(obj))
        if key[0] and key[2] and key not in seen:
            seen.add(key)
            triples.append((subject, relation, obj))
    return triples


class LLMExtractor:
    """Triples from a model, batched, with a resumable on-disk cache (one JSON line per chunk)."""

    def __init__(self, llm, cache_dir: Path | None, batch_size: int = 8, max_new_tokens: int = 256,
                 max_chars: int = 4000, vocabulary: Vocabulary | None = None):
        self.llm = llm
        self.model = getattr(llm, "name", type(llm).__name__)
        self.vocabulary = vocabulary or default_vocabulary()
        # The answers' cache key has no vocabulary (it does not change them); the graph's has.
        self.name = f"llm:{self.model}:{LLM_PROMPT_VERSION}+{self.vocabulary.digest}"
        self.cache_path = Path(cache_dir) / "graph" / "llm-triples.jsonl" if cache_dir else None
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.max_chars = max_chars
        self.llm_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def entity_type(self, name: str) -> str:
        return entity_type(name, self.vocabulary)

    def cache_key(self, chunk_text: str) -> str:
        return hashlib.sha256(f"{self.model}\0{LLM_PROMPT_VERSION}\0{chunk_text}".encode()).hexdigest()

    def messages(self, chunk_text: str) -> list[dict]:
        return [{"role": "system", "content": LLM_SYSTEM_PROMPT},
                {"role": "user", "content": f"{LLM_EXAMPLE}\n\nText:\n{chunk_text[:self.max_chars]}\n\nTriples:"}]

    def _read_cache(self) -> dict[str, list]:
        cached = {}
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    cached[record["key"]] = record["triples"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line from an interrupted build
        return cached

    def _append(self, records: list[dict]) -> None:
        if not self.cache_path:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cache_path, "a", encoding="utf-8") as out:
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            out.flush()
            os.fsync(out.fileno())

    def extract(self, chunks: list[Chunk]) -> list[ChunkFacts]:
        self.llm_calls = 0
        cached = self._read_cache()
        keys = [self.cache_key(c.text) for c in chunks]
        todo = list(dict.fromkeys(k for k in keys if k not in cached))
        text_of = {k: c.text for k, c in zip(keys, chunks)}
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            generations = self.llm.generate([self.messages(text_of[k]) for k in batch],
                                            max_new_tokens=self.max_new_tokens, temperature=0.0)
            records = []
            for key, generation in zip(batch, generations):
                self.llm_calls += 1
                self.prompt_tokens += generation.prompt_tokens
                self.completion_tokens += generation.completion_tokens
                triples = [list(t) for t in parse_triples(generation.text)]
                cached[key] = triples
                records.append({"key": key, "model": self.model, "triples": triples})
            self._append(records)
        facts = []
        for chunk, key in zip(chunks, keys):
            triples = [tuple(t) for t in cached.get(key, [])]
            entities = [(name, self.entity_type(name)) for s, _, o in triples for name in (s, o)]
            facts.append(ChunkFacts(chunk.chunk_id, entities, triples))
        return facts
