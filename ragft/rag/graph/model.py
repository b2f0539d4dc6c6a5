"""The knowledge graph: :class:`KnowledgeGraph` — plain dicts (a directed multigraph: several
relations may join the same pair); every node and edge keeps the chunk ids and document ids it
came from. Nodes are keyed by :func:`~.mentions.normalise`; a merged node's old key stays an
alias. ``save``/``load`` write and read it as JSON (atomic replace); the exports for other tools
(``to_json``, ``export_json``, ``export_graphml``, ``to_networkx``) are in :mod:`.export`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragft.errors import RagftError
from ragft.rag.graph import export
from ragft.persist import atomic_write_text
from ragft.rag.graph.mentions import ATTRIBUTE_TYPES, entity_type, normalise

GRAPH_FORMAT = 1

_TYPE_PRIORITY = {"person": 7, "role": 6, "vessel": 6, "org": 5, "code": 5, "money": 4, "date": 4,
                  "quantity": 4, "name": 1, "entity": 0}


@dataclass
class Node:
    key: str
    label: str
    type: str
    chunk_ids: set[str] = field(default_factory=set)
    doc_ids: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)  # surface forms seen
    mentions: int = 0
    type_votes: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "type": self.type, "chunk_ids": sorted(self.chunk_ids),
                "doc_ids": sorted(self.doc_ids), "aliases": sorted(self.aliases), "mentions": self.mentions}


@dataclass
class Edge:
    source: str
    target: str
    relation: str
    chunk_ids: set[str] = field(default_factory=set)
    doc_ids: set[str] = field(default_factory=set)
    count: int = 0

    @property
    def labelled(self) -> bool:
        return self.relation != "co-occurs"

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "relation": self.relation,
                "chunk_ids": sorted(self.chunk_ids), "doc_ids": sorted(self.doc_ids), "count": self.count}


class KnowledgeGraph:
    """Entities (nodes keyed by :func:`normalise`) and relations (directed, several per pair),
    each linked to the chunks and documents it came from."""

    def __init__(self, meta: dict[str, Any] | None = None):
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.meta: dict[str, Any] = dict(meta or {})
        self._adjacent: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self._alias: dict[str, str] = {}  # merged key -> surviving key
        self._label_vectors: tuple[list[str], np.ndarray] | None = None

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, type_: str | None = None, chunk_id: str | None = None,
                 doc_id: str | None = None) -> str | None:
        key = self.resolve(normalise(name)) or normalise(name)
        if not key:
            return None
        type_ = type_ or entity_type(name)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = Node(key, name.strip(), type_)
        node.aliases.add(name.strip())
        node.mentions += 1
        node.type_votes[type_] += 1
        node.type = max(node.type_votes, key=lambda t: (node.type_votes[t] * _TYPE_PRIORITY.get(t, 1), t))
        if chunk_id:
            node.chunk_ids.add(chunk_id)
        if doc_id:
            node.doc_ids.add(doc_id)
        return key

    def add_edge(self, source: str, relation: str, target: str, chunk_id: str | None = None,
                 doc_id: str | None = None) -> None:
        if source == target or source not in self.nodes or target not in self.nodes:
            return
        edge_key = (source, target, relation)
        edge = self.edges.get(edge_key)
        if edge is None:
            edge = self.edges[edge_key] = Edge(source, target, relation)
            self._adjacent[source].add(edge_key)
            self._adjacent[target].add(edge_key)
        edge.count += 1
        if chunk_id:
            edge.chunk_ids.add(chunk_id)
        if doc_id:
            edge.doc_ids.add(doc_id)

    def resolve(self, key: str) -> str | None:
        """The surviving node key for a key (following alias merges), or None."""
        seen = 0
        while key in self._alias and seen < 10:
            key, seen = self._alias[key], seen + 1
        return key if key in self.nodes else None

    def find(self, name: str) -> Node | None:
        """The node of an entity name (any surface form or alias), or None."""
        key = self.resolve(normalise(name))
        return self.nodes.get(key) if key else None

    def merge(self, source: str, target: str) -> None:
        """Fold node ``source`` into ``target`` (aliases, chunk links and edges move over)."""
        if source == target or source not in self.nodes or target not in self.nodes:
            return
        old, new = self.nodes.pop(source), self.nodes[target]
        new.chunk_ids |= old.chunk_ids
        new.doc_ids |= old.doc_ids
        new.aliases |= old.aliases
        new.mentions += old.mentions
        self._alias[source] = target
        for edge_key in list(self._adjacent.pop(source, ())):
            edge = self.edges.pop(edge_key, None)
            if edge is None:
                continue
            for end in (edge.source, edge.target):
                self._adjacent.get(end, set()).discard(edge_key)
            s = target if edge.source == source else edge.source
            t = target if edge.target == source else edge.target
            if s == t:
                continue
            for chunk_id in edge.chunk_ids or {None}:
                self.add_edge(s, edge.relation, t, chunk_id)
            merged = self.edges.get((s, t, edge.relation))
            if merged:
                merged.doc_ids |= edge.doc_ids
                merged.count += max(edge.count - len(edge.chunk_ids or {None}), 0)

    # ------------------------------------------------------------------ queries
    def neighbours(self, key: str) -> list[tuple[str, Edge]]:
        """(other node key, edge) for every edge touching ``key``, either direction."""
        out = []
        for edge_key in self._adjacent.get(key, ()):
            edge = self.edges[edge_key]
            out.append((edge.target if edge.source == key else edge.source, edge))
        return sorted(out, key=lambda item: (item[0], item[1].relation))

    def degree(self, key: str) -> int:
        return len(self._adjacent.get(key, ()))

    def label_vectors(self, embedder) -> tuple[list[str], np.ndarray]:
        """Embeddings of the non-attribute node labels (computed once per graph object)."""
        if self._label_vectors is None:
            keys = sorted(k for k, n in self.nodes.items() if n.type not in ATTRIBUTE_TYPES)
            vectors = embedder.embed([self.nodes[k].label for k in keys]) if keys else np.zeros((0, 1), np.float32)
            self._label_vectors = (keys, vectors)
        return self._label_vectors

    def stats(self) -> dict[str, Any]:
        types = Counter(n.type for n in self.nodes.values())
        relations = Counter("co-occurs" if e.relation == "co-occurs" else
                            ("holds_role" if e.relation == "holds_role" else "other") for e in self.edges.values())
        return {"nodes": len(self.nodes), "edges": len(self.edges), "node_types": dict(sorted(types.items())),
                "edge_kinds": dict(sorted(relations.items()))}

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {"format": GRAPH_FORMAT, "meta": self.meta,
                "nodes": [self.nodes[k].to_dict() for k in sorted(self.nodes)],
                "edges": [self.edges[k].to_dict() for k in sorted(self.edges)],
                "aliases": dict(sorted(self._alias.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> KnowledgeGraph:
        if data.get("format") != GRAPH_FORMAT:
            raise RagftError(f"knowledge graph format {data.get('format')!r}, this ragft reads {GRAPH_FORMAT}")
        graph = cls(data.get("meta"))
        for item in data["nodes"]:
            graph.nodes[item["key"]] = Node(item["key"], item["label"], item["type"], set(item["chunk_ids"]),
                                            set(item["doc_ids"]), set(item["aliases"]), item.get("mentions", 0),
                                            Counter({item["type"]: 1}))
        for item in data["edges"]:
            edge = Edge(item["source"], item["target"], item["relation"], set(item["chunk_ids"]),
                        set(item["doc_ids"]), item.get("count", 1))
            key = (edge.source, edge.target, edge.relation)
            graph.edges[key] = edge
            graph._adjacent[edge.source].add(key)
            graph._adjacent[edge.target].add(key)
        graph._alias = dict(data.get("aliases", {}))
        return graph

    def save(self, path: Path) -> Path:
        """Write the graph as JSON, atomically (a temporary file then ``os.replace``)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: Path) -> KnowledgeGraph:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise RagftError(f"{path}: cannot read the knowledge graph ({err})") from None

    # ------------------------------------------------------------------ exports (see export.py)
    def to_json(self) -> dict:
        """The export format: nodes with label, type and degree, edges with their relation, each with
        the chunks and documents it came from."""
        return export.to_json(self)

    def export_json(self, path: Path) -> Path:
        """:meth:`to_json` written to ``path`` atomically: the graph for tools other than ragft."""
        return export.export_json(self, path)

    def export_graphml(self, path: Path) -> Path:
        """GraphML (readable by networkx, Gephi, yEd, Cytoscape); chunk/doc id lists are JSON strings."""
        return export.export_graphml(self, path)

    def to_networkx(self):
        """A ``networkx.MultiDiGraph`` copy (needs networkx installed)."""
        return export.to_networkx(self)
