"""The knowledge graph for tools other than ragft: a JSON export (nodes with label, type and
degree, edges with their relation, each with the chunks and documents it came from), GraphML
(networkx, Gephi, yEd, Cytoscape) and a ``networkx.MultiDiGraph`` copy. Each is also a method of
:class:`~.model.KnowledgeGraph`. Files are written atomically (``ragft.persist.atomic_write_text``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from ragft.persist import atomic_write_text

if TYPE_CHECKING:
    from ragft.rag.graph.model import KnowledgeGraph


def to_json(graph: KnowledgeGraph) -> dict:
    """The export format: nodes with label, type and degree, edges with their relation, each with
    the chunks and documents it came from."""
    return {
        "nodes": [{"id": k, "label": n.label, "type": n.type, "degree": graph.degree(k),
                   "chunk_ids": sorted(n.chunk_ids), "doc_ids": sorted(n.doc_ids)}
                  for k, n in sorted(graph.nodes.items())],
        "edges": [{"source": e.source, "target": e.target, "relation": e.relation, "weight": e.count,
                   "chunk_ids": sorted(e.chunk_ids), "doc_ids": sorted(e.doc_ids)}
                  for _, e in sorted(graph.edges.items())],
        "stats": graph.stats(), "meta": graph.meta,
    }


def export_json(graph: KnowledgeGraph, path: Path) -> Path:
    """:func:`to_json` written to ``path`` atomically."""
    atomic_write_text(Path(path), json.dumps(to_json(graph), ensure_ascii=False))
    return Path(path)


def export_graphml(graph: KnowledgeGraph, path: Path) -> Path:
    """GraphML; chunk/doc id lists are JSON strings."""
    ns = "http://graphml.graphdrawing.org/xmlns"
    root = ET.Element("graphml", xmlns=ns)
    keys = [("label", "node", "string"), ("type", "node", "string"), ("degree", "node", "int"),
            ("chunk_ids", "node", "string"), ("doc_ids", "node", "string"),
            ("relation", "edge", "string"), ("weight", "edge", "int"),
            ("edge_chunk_ids", "edge", "string"), ("edge_doc_ids", "edge", "string")]
    for name, domain, kind in keys:
        attr_name = name.removeprefix("edge_")
        ET.SubElement(root, "key", {"id": name, "for": domain, "attr.name": attr_name, "attr.type": kind})
    body = ET.SubElement(root, "graph", id="G", edgedefault="directed")
    for key, node in sorted(graph.nodes.items()):
        element = ET.SubElement(body, "node", id=key)
        for name, value in (("label", node.label), ("type", node.type), ("degree", graph.degree(key)),
                            ("chunk_ids", json.dumps(sorted(node.chunk_ids))),
                            ("doc_ids", json.dumps(sorted(node.doc_ids)))):
            ET.SubElement(element, "data", key=name).text = str(value)
    for i, (_, edge) in enumerate(sorted(graph.edges.items())):
        element = ET.SubElement(body, "edge", id=f"e{i}", source=edge.source, target=edge.target)
        for name, value in (("relation", edge.relation), ("weight", edge.count),
                            ("edge_chunk_ids", json.dumps(sorted(edge.chunk_ids))),
                            ("edge_doc_ids", json.dumps(sorted(edge.doc_ids)))):
            ET.SubElement(element, "data", key=name).text = str(value)
    ET.indent(root)
    atomic_write_text(Path(path), ET.tostring(root, encoding="unicode", xml_declaration=True))
    return Path(path)


def to_networkx(graph: KnowledgeGraph):
    """A ``networkx.MultiDiGraph`` copy (needs networkx installed)."""
    import networkx as nx

    copy = nx.MultiDiGraph()
    for key, node in graph.nodes.items():
        copy.add_node(key, label=node.label, type=node.type, chunk_ids=sorted(node.chunk_ids),
                      doc_ids=sorted(node.doc_ids))
    for edge in graph.edges.values():
        copy.add_edge(edge.source, edge.target, key=edge.relation, relation=edge.relation,
                      chunk_ids=sorted(edge.chunk_ids), doc_ids=sorted(edge.doc_ids), weight=edge.count)
    return copy
