"""A knowledge graph over the chunks, and a retrieval step that walks it (GraphRAG-style).

Multi-hop questions often need two documents that share an entity but few words with the
question: a policy names a *role* ("approved by the Chief Financial Officer") and the org chart
names the *person* holding it. Dense and BM25 retrieval find the first document; the second is
only reachable through the shared entity. This package makes those links explicit:

- :mod:`.vocabulary` — the extractor's words (role and organisation heads, honorifics, stop
  words, units, relation cue words), read from ``vocabulary.yaml``;
- :mod:`.mentions` — entity mentions in text, their node keys (:func:`normalise`) and types;
- :mod:`.extract` — the :class:`Extractor` interface and the offline :class:`PatternExtractor`
  (the default), with the relations within a sentence (:func:`sentence_relations`);
- :mod:`.llm_extractor` — :class:`LLMExtractor`: triples from a model, cached and resumable;
- :mod:`.model` — :class:`KnowledgeGraph` (nodes, edges, aliases; JSON save/load);
- :mod:`.export` — JSON, GraphML and networkx exports;
- :mod:`.matcher` — :class:`NameMatcher`: node names in free text;
- :mod:`.build` — :func:`build_graph` and the per-index cache (:func:`graph_for_index`);
- :mod:`.retrieve` — :class:`GraphRetrieve`: link, expand, rank;
- :mod:`.step` — the ``graph`` pipeline step and its params.

Domain words. The built-in vocabulary is general-purpose English. A corpus with its own
organisation names, job titles or counted things adds them through the step's ``vocabulary``
param (the keys are listed in :data:`ragft.rag.graph.vocabulary.EXTENSIBLE`)::

    pipeline: [{name: graph, params: {vocabulary: {org_heads: [ferries], units: ["sailings?"]}}}]

They are added to the built-in lists and are part of the graph's cache key.
"""

from ragft.rag.graph.build import _GRAPH_CACHE, build_graph, cached_graph, graph_for_index
from ragft.rag.graph.extract import PatternExtractor, sentence_relations
from ragft.rag.graph.llm_extractor import LLMExtractor, parse_triples
from ragft.rag.graph.matcher import NameMatcher
from ragft.rag.graph.mentions import ATTRIBUTE_TYPES, entity_type, find_mentions, normalise
from ragft.rag.graph.model import KnowledgeGraph
from ragft.rag.graph.retrieve import GraphRetrieve
from ragft.rag.graph.step import STEPS

__all__ = [
    "ATTRIBUTE_TYPES", "GraphRetrieve", "KnowledgeGraph", "LLMExtractor", "NameMatcher", "PatternExtractor", "STEPS",
    "_GRAPH_CACHE", "build_graph", "cached_graph", "entity_type", "find_mentions", "graph_for_index", "normalise",
    "parse_triples", "sentence_relations",
]
