"""Graph retrieval: the ``graph`` step (:class:`GraphRetrieve`) sets ``state.hits``.

1. *link* — entities of the question (node names found in it, the pattern extractor's
   mentions, then token overlap and embedding similarity of names ≥ ``link_threshold`` for
   mentions with no exact node), plus the entities of the ``seed_sentences`` sentences most
   similar to the question in the top ``seed_hits`` chunks of the normal retrieval — the bridge:
   the policy sentence that names the role — weighted by their similarity, more when the sentence
   also names one of the question's entities;
2. *expand* ``hops`` (1) steps along edges (weight × IDF, × ``decay`` per hop × relation
   strength, damped by √degree except along ``holds_role``; at most ``max_neighbours`` per
   node, rarest first); for "who" questions the people reached count double;
3. *rank* chunks greedily by the weights of the active entities they mention and of the
   relations between them that they state; an entity covered by a chosen chunk keeps
   ``cover_discount`` of its weight, so the next pick brings in what is still missing (the
   second document). Returns ``top_k``, filled up from the normal retrieval when the graph
   reaches fewer chunks. With ``also_chunks: true`` the graph ranking and the normal hybrid
   ranking (their top ``2 × top_k`` each) are fused by RRF (:func:`ragft.rag.steps.fuse_hits`).

``state.trace["graph"]`` records the build (``source``: built/disk/memory, ``build_seconds``,
``llm_calls``, node and edge counts), the linked entities and the graph's own top chunks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragft.config import RetrievalConfig
from ragft.corpus.sentences import split_sentences
from ragft.index.store import HybridIndex
from ragft.rag.graph.build import graph_for_index
from ragft.rag.graph.extract import Extractor, PatternExtractor, hard_newlines
from ragft.rag.graph.matcher import NameMatcher
from ragft.rag.graph.mentions import ATTRIBUTE_TYPES, Mention, find_mentions
from ragft.rag.graph.model import Edge, KnowledgeGraph
from ragft.rag.graph.vocabulary import Vocabulary, default_vocabulary
from ragft.rag.modular import RAGState
from ragft.rag.steps import Retrieve, fuse_hits
from ragft.types import Chunk, Hit


@dataclass
class GraphRetrieve:
    """Retrieve chunks through the entities the question (and its best evidence) mentions."""

    index: HybridIndex
    embedder: Any
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    extractor: Extractor = field(default_factory=PatternExtractor)
    cache_dir: Path | None = None
    hops: int = 1
    also_chunks: bool = False
    seed_hits: int = 3  # top chunks of the normal retrieval whose best sentences seed entities
    seed_sentences: int = 4
    link_threshold: float = 0.8
    decay: float = 0.5
    max_neighbours: int = 40
    cover_discount: float = 0.3  # weight left to an entity once a chosen chunk covers it
    name: str = "graph"
    graph: KnowledgeGraph | None = None
    build: dict = field(default_factory=dict)

    def _chunks(self) -> dict[str, Chunk]:
        if getattr(self, "_chunk_map", None) is None:
            self._chunk_map = {c.chunk_id: c for c in self.index.chunks}
        return self._chunk_map

    def _vocabulary(self) -> Vocabulary:
        return getattr(self.extractor, "vocabulary", None) or default_vocabulary()

    def ensure_graph(self) -> KnowledgeGraph:
        if self.graph is None:
            self.graph, self.build = graph_for_index(self.index, self.extractor, self.cache_dir)
        return self.graph

    def run(self, states: list[RAGState]) -> list[RAGState]:
        graph = self.ensure_graph()
        retriever = Retrieve(self.index, self.retrieval)
        depth = max(self.retrieval.top_k, self.retrieval.candidates)
        k = self.retrieval.top_k
        baseline = [retriever.search(s.question, s.doc_scope, depth) for s in states]
        matcher = NameMatcher(graph)
        links = [self.link(s.question, graph, matcher) for s in states]
        evidence = self._seed_from_hits(states, baseline, links)
        chunk_by_id = self._chunks()
        for state, base, linked, hit_seeds in zip(states, baseline, links, evidence):
            for key, (weight, via) in hit_seeds.items():
                if key not in linked or linked[key][0] < weight:
                    linked[key] = (weight, via)
            active = self.expand(graph, {key: weight for key, (weight, _) in linked.items()})
            if self._vocabulary().person_question.search(state.question):  # the answer is a person: favour people reached
                active = {key: w * (2.0 if graph.nodes[key].type == "person" and key not in linked else 1.0)
                          for key, w in active.items()}
            ranked = self.rank_chunks(graph, active, state.doc_scope, limit=depth)
            graph_hits = [Hit(chunk_by_id[cid], score, rank, "graph")
                          for rank, (cid, score) in enumerate(ranked, start=1) if cid in chunk_by_id]
            if self.also_chunks:
                # Each ranking contributes its top 2k only: a chunk ranked 30th by one retriever
                # must not outrank the other retriever's first choice by appearing in both lists.
                state.hits = fuse_hits([base[:2 * k], graph_hits[:2 * k]], k, self.retrieval.rrf_k) \
                    if graph_hits else base[:k]
            else:
                chosen = {h.chunk.chunk_id for h in graph_hits[:k]}
                fill = [h for h in base if h.chunk.chunk_id not in chosen]  # too few graph chunks
                state.hits = [Hit(h.chunk, h.score, rank, h.retriever)
                              for rank, h in enumerate((graph_hits[:k] + fill)[:k], start=1)]
            state.trace[self.name] = {
                "build": self.build,
                "linked": [{"entity": graph.nodes[key].label, "type": graph.nodes[key].type,
                            "weight": round(weight, 3), "via": via}
                           for key, (weight, via) in sorted(linked.items(), key=lambda kv: -kv[1][0])[:12]],
                "expanded": len(active), "graph_chunks": [h.chunk.chunk_id for h in graph_hits[:k]],
            }
        return states

    # ------------------------------------------------------------------ linking
    def link(self, question: str, graph: KnowledgeGraph,
             matcher: NameMatcher | None = None) -> dict[str, tuple[float, str]]:
        """Node key -> (confidence, how it was linked) for the entities the question names."""
        linked: dict[str, tuple[float, str]] = {}
        matcher = matcher or NameMatcher(graph)
        for key, _, _ in matcher.match(question):
            linked[key] = (1.0, "name")
        unlinked = []
        for mention in find_mentions(question, vocabulary=self._vocabulary()):
            key = graph.resolve(mention.key)
            if key:
                linked[key] = (1.0, "name")
            elif mention.type not in ATTRIBUTE_TYPES:
                unlinked.append(mention)
        if unlinked:
            self._fuzzy_link(unlinked, graph, linked)
        return linked

    def _fuzzy_link(self, mentions: list[Mention], graph: KnowledgeGraph, linked: dict) -> None:
        """Token overlap (Jaccard >= 0.5) and embedding similarity (>= link_threshold) of names."""
        by_token: dict[str, set[str]] = defaultdict(set)
        for key in graph.nodes:
            for token in key.split():
                by_token[token].add(key)
        for mention in mentions:
            tokens = set(mention.key.split())
            for key in set().union(*(by_token.get(t, set()) for t in tokens)):
                other = set(key.split())
                overlap = len(tokens & other) / len(tokens | other)
                if overlap >= 0.5 and linked.get(key, (0.0,))[0] < overlap:
                    linked[key] = (overlap, "token_overlap")
        if self.embedder is None:
            return
        keys, vectors = graph.label_vectors(self.embedder)
        if not keys:
            return
        similarity = self.embedder.embed([m.text for m in mentions]) @ vectors.T
        for row in similarity:
            for col in np.flatnonzero(row >= self.link_threshold):
                key, score = keys[col], float(row[col])
                if linked.get(key, (0.0,))[0] < score:
                    linked[key] = (score, "embedding")

    def _seed_from_hits(self, states: list[RAGState], baseline: list[list[Hit]],
                        links: list[dict] | None = None) -> list[dict[str, tuple[float, str]]]:
        """Entities of the sentences most similar to the question in its top retrieved chunks —
        the bridge to a second document — weighted 0.5 × (similarity / best similarity), doubled
        in a sentence that also names an entity the question names ("claims above £500 need
        approval by the Chief Financial Officer")."""
        links = links or [{} for _ in states]
        if self.seed_hits <= 0 or self.embedder is None:
            return [{} for _ in states]
        per_state, texts = [], []
        for state, hits in zip(states, baseline):
            sentences = [hit.chunk.text[s:e] for hit in hits[:self.seed_hits]
                         for s, e in split_sentences(hit.chunk.text, hard_newlines(hit.chunk))]
            per_state.append((len(texts), sentences))
            texts.extend([state.question] + sentences)
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, 1))
        matcher = NameMatcher(self.ensure_graph())
        seeds = []
        for (start, sentences), linked in zip(per_state, links):
            found: dict[str, tuple[float, str]] = {}
            if sentences:
                similarity = vectors[start + 1:start + 1 + len(sentences)] @ vectors[start]
                order = np.argsort(-similarity)[:self.seed_sentences]
                best = max(float(similarity[order[0]]), 1e-6)
                for i in order:
                    keys = [key for key, _, _ in matcher.match(sentences[i])]
                    anchored = any(key in linked for key in keys)
                    weight = min((1.0 if anchored else 0.5) * max(float(similarity[i]), 0.0) / best, 1.0)
                    for key in keys:
                        if key not in linked and found.get(key, (0.0,))[0] < weight:
                            found[key] = (weight, "evidence")
            seeds.append(found)
        return seeds

    # ------------------------------------------------------------------ expansion and ranking
    def expand(self, graph: KnowledgeGraph, seeds: dict[str, float]) -> dict[str, float]:
        """Spread the seeds' weights ``hops`` steps along edges.

        A seed's weight is its link confidence × its IDF (the company's home port, named in
        forty chunks, says little). Each step passes ``decay`` × relation strength (holds_role 1,
        other labelled relations 0.7, co-occurrence 0.3) × the neighbour's IDF, divided by
        √(number of neighbours) — a personalised-PageRank-like damping so that a hub does not
        hand its weight to everything it touches — to at most ``max_neighbours`` neighbours,
        the rarest first. ``holds_role`` is not damped: a role has one holder, however many
        documents mention the role.
        """
        n_chunks = _n_chunks(graph)
        active = {k: w * _idf(graph, k, n_chunks) for k, w in seeds.items() if k in graph.nodes}
        frontier = dict(active)
        for _ in range(self.hops):
            reached: dict[str, float] = {}
            for key, weight in frontier.items():
                options: dict[str, float] = {}
                for other, edge in graph.neighbours(key):
                    options[other] = max(options.get(other, 0.0), _strength(edge))
                if not options:
                    continue
                best = sorted(options, key=lambda o: (-options[o] * _idf(graph, o, n_chunks), o))[:self.max_neighbours]
                damping = math.sqrt(len(options))
                for other in best:
                    value = weight * self.decay * options[other] * _idf(graph, other, n_chunks)
                    value /= 1.0 if options[other] >= 1.0 else damping
                    if value > max(active.get(other, 0.0), reached.get(other, 0.0)):
                        reached[other] = value
            active.update(reached)
            frontier = reached
        return active

    def rank_chunks(self, graph: KnowledgeGraph, active: dict[str, float], doc_scope: str | None = None,
                    limit: int | None = None) -> list[tuple[str, float]]:
        """Chunks chosen greedily by the weight of the active entities they mention plus, for
        every relation between two active entities that the chunk states, the smaller weight ×
        the relation's strength (the chunk saying *who holds the role* beats one that merely
        names it). Once a chunk is chosen, the entities it covers keep ``cover_discount`` of
        their weight, so the next choice brings in what is still missing — typically the
        second document of a two-hop question."""
        nodes_in: dict[str, set[str]] = defaultdict(set)
        for key in active:
            for chunk_id in graph.nodes[key].chunk_ids:
                nodes_in[chunk_id].add(key)
        edges_in: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        seen_edges = set()
        for key in active:
            for other, edge in graph.neighbours(key):
                edge_key = (edge.source, edge.target, edge.relation)
                if other in active and edge_key not in seen_edges:
                    seen_edges.add(edge_key)
                    for chunk_id in edge.chunk_ids:
                        edges_in[chunk_id].append((edge.source, edge.target, _strength(edge)))
        candidates = set(nodes_in)
        if doc_scope:
            chunks = self._chunks()
            candidates = {c for c in candidates if c in chunks and chunks[c].doc_id == doc_scope}
        remaining = dict(active)

        def score(chunk_id: str) -> float:
            value = sum(remaining[n] for n in nodes_in[chunk_id])
            return value + sum(min(remaining[a], remaining[b]) * st for a, b, st in edges_in.get(chunk_id, ()))

        ranked: list[tuple[str, float]] = []
        limit = len(candidates) if limit is None else min(limit, len(candidates))
        while candidates and len(ranked) < limit:
            best = max(sorted(candidates), key=score)
            value = score(best)
            if value <= 0:
                break
            ranked.append((best, value))
            candidates.discard(best)
            for node in nodes_in[best]:
                remaining[node] *= self.cover_discount
        return ranked


def _strength(edge: Edge) -> float:
    if edge.relation == "holds_role":
        return 1.0
    return 0.7 if edge.labelled else 0.3


def _n_chunks(graph: KnowledgeGraph) -> int:
    return max(int(graph.meta.get("chunks", 0)) or len({c for n in graph.nodes.values() for c in n.chunk_ids}), 1)


def _idf(graph: KnowledgeGraph, key: str, n_chunks: int) -> float:
    """Inverse document frequency of an entity over chunks, scaled to (0, 1]."""
    df = max(len(graph.nodes[key].chunk_ids), 1)
    return math.log(1 + n_chunks / df) / math.log(1 + n_chunks) if n_chunks > 1 else 1.0
