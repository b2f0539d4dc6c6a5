"""The knowledge graphs a study's ``graph`` steps used: exported for other tools, summarised for the report.

A variant whose pipeline has a ``graph`` step leaves the graph's fingerprint in each record's
trace; the graph itself is cached as JSON in ``<run>/cache/graph/<fingerprint>.json``. For each
such graph this writes, beside the results::

    <run>/graphs/<fingerprint>.graphml   GraphML for Gephi, yEd, Cytoscape or networkx
    <run>/graphs/<fingerprint>.json      nodes and edges with the chunks and documents they came from

and returns a small overview for ``results.json`` — counts, the best-connected entities and the
relations among them, laid out for the report's picture (a 40-node picture of an 11,000-node
graph is a map of its hubs, not the graph; the files are the graph).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import networkx as nx

from ragft.rag.graph import KnowledgeGraph, cached_graph

OVERVIEW_NODES = 40
OVERVIEW_EDGES = 120


def export_knowledge_graphs(records_by_variant: dict[str, list[dict]], run_dir: Path) -> list[dict]:
    """Export every graph the variants' records name; one overview per graph, in fingerprint order."""
    variants_by_graph: dict[str, set[str]] = {}
    for variant, records in records_by_variant.items():
        for record in records:
            fingerprint = _graph_fingerprint(record)
            if fingerprint:
                variants_by_graph.setdefault(fingerprint, set()).add(variant)
    overviews = []
    for fingerprint, variants in sorted(variants_by_graph.items()):
        graph, _ = cached_graph(fingerprint, run_dir / "cache")  # usually still in memory from the run
        if graph is None:  # a run folder copied without its cache: nothing to export
            continue
        files = _export(graph, run_dir / "graphs", fingerprint)
        overviews.append({"fingerprint": fingerprint, "variants": sorted(variants), "stats": graph.stats(),
                          "extractor": graph.meta.get("extractor"),
                          "files": {kind: str(path.relative_to(run_dir)) for kind, path in files.items()},
                          **overview(graph)})
    return overviews


def _graph_fingerprint(record: dict) -> str | None:
    trace = (record.get("trace") or {}).get("graph")
    return ((trace or {}).get("build") or {}).get("fingerprint") if isinstance(trace, dict) else None


def _export(graph: KnowledgeGraph, folder: Path, fingerprint: str) -> dict[str, Path]:
    """GraphML and JSON, written once per graph (a graph's fingerprint fixes its content)."""
    folder.mkdir(parents=True, exist_ok=True)
    graphml, as_json = folder / f"{fingerprint}.graphml", folder / f"{fingerprint}.json"
    if not graphml.exists():
        graph.export_graphml(graphml)
    if not as_json.exists():
        graph.export_json(as_json)
    return {"graphml": graphml, "json": as_json}


def overview(graph: KnowledgeGraph, n_nodes: int = OVERVIEW_NODES, n_edges: int = OVERVIEW_EDGES) -> dict:
    """The ``n_nodes`` best-connected entities, the strongest relations among them, and a layout.

    Positions come from networkx's Kamada–Kawai layout (deterministic, so a report is
    reproducible; it spreads a hub-heavy graph more evenly than a spring layout), scaled to the
    unit square.
    """
    hubs = sorted(graph.nodes, key=lambda key: (-graph.degree(key), key))[:n_nodes]
    chosen = set(hubs)
    pairs: dict[tuple[str, str], Counter] = {}
    for edge in graph.edges.values():
        if edge.source in chosen and edge.target in chosen and edge.source != edge.target:
            pairs.setdefault((edge.source, edge.target), Counter())[edge.relation] += edge.count
    strongest = sorted(pairs.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:n_edges]
    edges = [{"source": s, "target": t, "relation": relations.most_common(1)[0][0], "weight": sum(relations.values())}
             for (s, t), relations in strongest]
    layout_graph = nx.Graph()
    layout_graph.add_nodes_from(hubs)
    layout_graph.add_edges_from((e["source"], e["target"]) for e in edges)
    positions = nx.kamada_kawai_layout(layout_graph) if len(hubs) > 1 else {key: (0.5, 0.5) for key in hubs}
    xs = [p[0] for p in positions.values()] or [0.0]
    ys = [p[1] for p in positions.values()] or [0.0]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    nodes = [{"id": key, "label": graph.nodes[key].label, "type": graph.nodes[key].type,
              "degree": graph.degree(key), "documents": len(graph.nodes[key].doc_ids),
              "x": round((positions[key][0] - min(xs)) / span_x, 4), "y": round((positions[key][1] - min(ys)) / span_y, 4)}
             for key in hubs]
    return {"nodes": nodes, "edges": edges}
