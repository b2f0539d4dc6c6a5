"""Building the graph: extract facts from every chunk (:mod:`.extract`, :mod:`.llm_extractor`),
add them as nodes and edges, merge a short name into the one longer name it is the suffix of
("Venn" → "Sorcha Venn"), and link every node to each chunk that names it verbatim
(:class:`~.matcher.NameMatcher`: names capitalised as names are, roles in any case — "the port
manager" — so a role named in five documents links to all five).

A graph is built once per index content and extractor (:func:`index_fingerprint`): kept in
memory for the process and on disk under ``cache_dir/graph/<fingerprint>.json``
(:func:`graph_for_index`, which also returns the build record: source, seconds, LLM calls).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from pathlib import Path

from ragft.index.store import HybridIndex
from ragft.rag.graph.extract import Extractor, PatternExtractor
from ragft.rag.graph.matcher import NameMatcher
from ragft.rag.graph.mentions import entity_type
from ragft.rag.graph.model import GRAPH_FORMAT, KnowledgeGraph, Node
from ragft.rag.graph.vocabulary import default_vocabulary
from ragft.types import Chunk

_ALIASABLE = {"name", "person", "vessel", "org"}


def build_graph(chunks: list[Chunk], extractor: Extractor | None = None, link_mentions: bool = True) -> KnowledgeGraph:
    """Extract facts from every chunk and assemble them into a graph."""
    extractor = extractor or PatternExtractor()
    type_of = getattr(extractor, "entity_type", entity_type)  # the extractor's vocabulary, if it has one
    role_relations = getattr(extractor, "vocabulary", default_vocabulary()).role_relations
    started = time.perf_counter()
    facts = extractor.extract(chunks)
    by_id = {c.chunk_id: c for c in chunks}
    graph = KnowledgeGraph()
    for fact in facts:
        chunk = by_id[fact.chunk_id]
        for name, type_ in fact.entities:
            graph.add_node(name, type_, chunk.chunk_id, chunk.doc_id)
        for subject, relation, obj in fact.relations:
            s = graph.add_node(subject, type_of(subject), chunk.chunk_id, chunk.doc_id)
            o = graph.add_node(obj, type_of(obj), chunk.chunk_id, chunk.doc_id)
            if s and o:
                if relation in role_relations and "role" in \
                        (graph.nodes[s].type, graph.nodes[o].type) and graph.nodes[s].type != graph.nodes[o].type:
                    if graph.nodes[s].type == "role":
                        s, o = o, s
                    relation = "holds_role"
                graph.add_edge(s, relation, o, chunk.chunk_id, chunk.doc_id)
    _merge_suffix_aliases(graph)
    for edge in graph.edges.values():  # a name that holds a role is a person
        if edge.relation == "holds_role" and graph.nodes[edge.source].type == "name":
            graph.nodes[edge.source].type = "person"
    for node in graph.nodes.values():  # the most frequent surface form is the label
        node.label = _best_label(node)
    if link_mentions:
        _link_mentions(graph, chunks)
    graph.meta.update({"extractor": extractor.name, "chunks": len(chunks),
                       "build_seconds": round(time.perf_counter() - started, 3),
                       "llm_calls": getattr(extractor, "llm_calls", 0), **graph.stats()})
    return graph


def _best_label(node: Node) -> str:
    aliases = sorted(node.aliases, key=lambda a: (-len(a.split()), a))
    return aliases[0] if aliases else node.key


def _merge_suffix_aliases(graph: KnowledgeGraph) -> None:
    """"Venn" → "Sorcha Venn" when it is the suffix of exactly one longer compatible name."""
    by_last: dict[str, list[str]] = defaultdict(list)
    for key, node in graph.nodes.items():
        if node.type in _ALIASABLE and len(key.split()) > 1:
            by_last[key.split()[-1]].append(key)
    for key in sorted(graph.nodes, key=lambda k: len(k.split())):
        node = graph.nodes.get(key)
        if node is None or node.type not in _ALIASABLE:
            continue
        tokens = key.split()
        candidates = [k for k in by_last.get(tokens[-1], ()) if k != key and k in graph.nodes
                      and k.split()[-len(tokens):] == tokens and len(k.split()) > len(tokens)
                      and _compatible(node.type, graph.nodes[k].type)]
        if len(candidates) == 1 and not any(ch.isdigit() for ch in key):
            graph.merge(key, candidates[0])


def _compatible(a: str, b: str) -> bool:
    return a == b or "name" in (a, b)


def _link_mentions(graph: KnowledgeGraph, chunks: list[Chunk]) -> None:
    """Link each node to every chunk that names it verbatim."""
    matcher = NameMatcher(graph)
    for chunk in chunks:
        for key, _, _ in matcher.match(chunk.text):
            node = graph.nodes[key]
            node.chunk_ids.add(chunk.chunk_id)
            node.doc_ids.add(chunk.doc_id)


_GRAPH_CACHE: dict[str, KnowledgeGraph] = {}  # per process: index content + extractor -> graph


def index_fingerprint(chunks: list[Chunk], extractor_name: str) -> str:
    """Hash of the chunks' ids and texts plus the extractor: the graph's cache key."""
    digest = hashlib.sha256(f"{GRAPH_FORMAT}\0{extractor_name}\0".encode())
    for chunk in chunks:
        digest.update(chunk.chunk_id.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(chunk.text.encode()).digest())
    return digest.hexdigest()[:20]


def _cached_graph_path(fingerprint: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / "graph" / f"{fingerprint}.json"


def cached_graph(fingerprint: str, cache_dir: Path | None) -> tuple[KnowledgeGraph | None, str]:
    """The graph built earlier for ``fingerprint`` and where it came from ("memory" or "disk"),
    or ``(None, "")`` when neither this process nor ``cache_dir`` has it."""
    if fingerprint in _GRAPH_CACHE:
        return _GRAPH_CACHE[fingerprint], "memory"
    if cache_dir is None or not _cached_graph_path(fingerprint, cache_dir).is_file():
        return None, ""
    graph = _GRAPH_CACHE[fingerprint] = KnowledgeGraph.load(_cached_graph_path(fingerprint, cache_dir))
    return graph, "disk"


def graph_for_index(index: HybridIndex, extractor: Extractor, cache_dir: Path | None) -> tuple[KnowledgeGraph, dict]:
    """The graph of ``index`` (from memory, then disk, else built and saved) and its build record."""
    fingerprint = index_fingerprint(index.chunks, extractor.name)
    started = time.perf_counter()
    graph, source = cached_graph(fingerprint, cache_dir)
    if graph is None:
        graph, source = build_graph(index.chunks, extractor), "built"
        graph.meta["fingerprint"] = fingerprint
        if cache_dir is not None:
            graph.save(_cached_graph_path(fingerprint, cache_dir))
        _GRAPH_CACHE[fingerprint] = graph
    build = {"source": source, "fingerprint": fingerprint, "extractor": graph.meta.get("extractor"),
             "build_seconds": graph.meta.get("build_seconds"), "llm_calls": graph.meta.get("llm_calls", 0),
             "load_seconds": round(time.perf_counter() - started, 3), "nodes": len(graph.nodes),
             "edges": len(graph.edges)}
    return graph, build
