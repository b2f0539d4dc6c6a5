"""Knowledge graph: pattern and LLM extraction, storage and export, graph retrieval."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ragft.config import ChunkerConfig, RetrievalConfig
from ragft.corpus import make_chunker
from ragft.errors import ConfigError
from ragft.index.store import HybridIndex
from ragft.rag import graph as graph_module
from ragft.rag.graph import (
    GraphRetrieve, KnowledgeGraph, LLMExtractor, PatternExtractor, build_graph, entity_type, find_mentions,
    graph_for_index, normalise, parse_triples, sentence_relations,
)
from ragft.rag.graph.vocabulary import load_vocabulary
from ragft.rag.modular import RAGState
from ragft.rag.registry import StepContext, build_pipeline
from ragft.types import Chunk, Document
from scripted_llm import ScriptedLLM as BaseScriptedLLM

# A two-hop case: the policy names a role, another document names the person holding it. The
# other documents are near-misses for the question's words (claims, travel, approval).
CRAFTED = {
    "policies/travel.md": "The travel policy says claims above £500 need approval by the Chief Financial Officer.",
    "company/people.md": "Aileen Moffat is the Chief Financial Officer.",
    "policies/expenses.md": "Travel expense claims are submitted in ExpenseHub within 30 days. Claims for taxis "
                            "need a receipt.",
    "policies/hotels.md": "Hotel claims above £150 per night are approved by line managers before travel.",
    "policies/mileage.md": "Mileage claims for business travel are paid at 45p per mile.",
    "hr/leave.md": "Employees accrue 27 days of annual leave each year.",
}
QUESTION = "Who approves travel claims above £500?"


def build_index(embedder, texts: dict[str, str]) -> HybridIndex:
    config = ChunkerConfig(kind="sentence", params={"max_chars": 200})
    docs = [Document(doc_id=d, text=t, source=d) for d, t in texts.items()]
    index, _ = HybridIndex.build(docs, make_chunker(config.kind, **config.params), config.model_dump(), embedder)
    return index


@pytest.fixture(scope="module")
def crafted(embedder):
    return build_index(embedder, CRAFTED)


@pytest.fixture(autouse=True)
def fresh_graph_cache():
    graph_module._GRAPH_CACHE.clear()
    yield
    graph_module._GRAPH_CACHE.clear()


def chunk(text: str, chunk_id: str = "d.md#0", doc_id: str = "d.md") -> Chunk:
    return Chunk(chunk_id, doc_id, text, 0, len(text))


# ------------------------------------------------------------------ the pattern extractor


def test_mentions_are_typed_by_shape():
    text = ("On 17 September 2024 Captain Elspeth Carn reported that pump KV-3318 on MV Greylag failed after "
            "12,000 running hours, costing £18,400; INC-2024-031 went to the Chair of the Audit and Risk "
            "Committee and the Fleet Technical Superintendent.")
    found = {m.text: m.type for m in find_mentions(text)}
    assert found == {
        "17 September 2024": "date", "Captain Elspeth Carn": "person", "KV-3318": "code", "MV Greylag": "vessel",
        "12,000 running hours": "quantity", "£18,400": "money", "INC-2024-031": "code",
        "Chair of the Audit and Risk Committee": "role", "Fleet Technical Superintendent": "role",
    }
    # "and" joins an organisation's name but never two names.
    vessels = [m.text for m in find_mentions("Wi-Fi is free on MV Corran Star and MV Greylag.") if m.type == "vessel"]
    assert vessels == ["MV Corran Star", "MV Greylag"]
    assert entity_type("Port Manager") == "role" and entity_type("Board of Directors") == "org"
    assert entity_type("Port Ardwell") == "name"


def test_domain_words_come_from_the_vocabulary_param_not_built_in():
    # "Ferries" heads an organisation's name only in a ferry company's corpus: its study says so.
    assert entity_type("Brennock Ferries") == "name"
    ferry = load_vocabulary({"org_heads": ["Ferries"], "units": ["sailings?"]})
    assert entity_type("Brennock Ferries", ferry) == "org"
    found = {m.text: m.type for m in find_mentions("Brennock Ferries runs 36 sailings a day.", vocabulary=ferry)}
    assert found == {"Brennock Ferries": "org", "36 sailings": "quantity"}
    assert PatternExtractor(vocabulary=ferry).name != PatternExtractor().name  # a graph of its own
    with pytest.raises(ConfigError, match="vocabulary key 'stop_words'"):
        load_vocabulary({"stop_words": ["ahoy"]})


def test_sentence_initial_common_words_and_headings_are_not_names():
    extractor = PatternExtractor()
    chunks = [chunk("Residents of Carrow Isle pay less. The ferry to Carrow Isle is late.\n"
                    "MARINE INCIDENT REPORT\nDepart Port Ardwell: 06:40\nWe sail from Port Ardwell daily.")]
    [facts] = extractor.extract(chunks)
    names = {name for name, _ in facts.entities}
    assert {"Carrow Isle", "Port Ardwell"} <= names
    assert not names & {"Residents", "Residents of Carrow Isle", "MARINE", "MARINE INCIDENT REPORT",
                        "Depart Port Ardwell", "The"}


def test_names_are_normalised_and_aliased():
    assert normalise("MV Greylag's") == normalise("Greylag") == "greylag"
    assert normalise("Captain Sorcha Venn") == "sorcha venn" and normalise("£12,000") == "£12000"
    assert normalise("KV-3318") == normalise("kv 3318")
    chunks = [chunk("Captain Sorcha Venn chairs the Safety Committee. The fleet includes MV Greylag.", "a.md#0", "a.md"),
              chunk("Venn signed the minutes on board Greylag.", "b.md#0", "b.md")]
    graph = build_graph(chunks)
    person = graph.find("Venn")
    assert person is not None and person.key == "sorcha venn" and person.chunk_ids == {"a.md#0", "b.md#0"}
    vessel = graph.find("the Greylag")
    assert vessel.label == "MV Greylag" and vessel.doc_ids == {"a.md", "b.md"}


def test_appositions_and_verb_phrases_become_relations():
    def relations(sentence):
        return {(a.text, rel, b.text) for a, rel, b in sentence_relations(sentence, find_mentions(sentence))}

    assert ("Aileen Moffat", "holds_role", "Chief Financial Officer") in relations(
        "Aileen Moffat, Chief Financial Officer, approves large claims.")
    assert ("Aileen Moffat", "holds_role", "Chief Financial Officer") in relations(
        "Aileen Moffat is the Chief Financial Officer.")
    line = relations("- Port Manager, Port Ardwell: Gideon Marsh, reporting to the Director of Marine Operations.")
    assert ("Gideon Marsh", "holds_role", "Port Manager") in line
    assert ("Gideon Marsh", "reporting to", "Director of Marine Operations") in line
    assert ("Port Ardwell", "holds_role", "Port Manager") not in line  # a place qualifies the role
    assert ("£750", "must be approved by", "Chief Financial Officer") in relations(
        "Any claim above £750 must be approved by the Chief Financial Officer.")
    assert ("Port Ardwell", "co-occurs", "Skerrin") in relations(  # not a simple phrase between them
        "Port Ardwell, where most crossings start, is busier than Skerrin.")


def test_crafted_role_links_both_documents(crafted):
    graph = build_graph(crafted.chunks)
    role = graph.find("Chief Financial Officer")
    assert role.type == "role"
    assert role.chunk_ids == {"policies/travel.md#0", "company/people.md#0"}
    assert role.doc_ids == {"policies/travel.md", "company/people.md"}
    person = graph.find("Aileen Moffat")
    assert person.type == "person"  # a name that holds a role
    holds = graph.edges[(person.key, role.key, "holds_role")]
    assert holds.chunk_ids == {"company/people.md#0"} and holds.doc_ids == {"company/people.md"}
    assert (normalise("£500"), role.key, "need approval by") in graph.edges
    assert graph.meta["llm_calls"] == 0 and graph.meta["build_seconds"] >= 0


# ------------------------------------------------------------------ graph retrieval


def test_graph_retrieval_finds_both_hops_where_dense_misses_one(crafted, embedder):
    dense = [h.chunk.doc_id for h in crafted.search(QUESTION, k=3, mode="dense")]
    assert "policies/travel.md" in dense and "company/people.md" not in dense

    step = GraphRetrieve(crafted, embedder, RetrievalConfig(top_k=3))
    [state] = step.run([RAGState(question=QUESTION, queries=[QUESTION])])
    docs = [h.chunk.doc_id for h in state.hits]
    assert {"policies/travel.md", "company/people.md"} <= set(docs) and len(docs) == 3
    assert [h.rank for h in state.hits] == [1, 2, 3]
    trace = state.trace["graph"]
    linked = {item["entity"]: item["via"] for item in trace["linked"]}
    assert linked["£500"] == "name" and linked["Chief Financial Officer"] == "evidence"
    assert trace["build"]["source"] == "built" and trace["build"]["llm_calls"] == 0
    assert trace["build"]["build_seconds"] >= 0 and trace["build"]["nodes"] == len(step.graph.nodes)

    fused = GraphRetrieve(crafted, embedder, RetrievalConfig(top_k=3), also_chunks=True)
    [state] = fused.run([RAGState(question=QUESTION, queries=[QUESTION])])
    assert {"policies/travel.md", "company/people.md"} <= {h.chunk.doc_id for h in state.hits}
    assert all(h.retriever == "fused" for h in state.hits)


def test_question_entities_link_by_name_overlap_and_embedding(crafted, embedder):
    step = GraphRetrieve(crafted, embedder, RetrievalConfig(top_k=3), seed_hits=0)
    graph = step.ensure_graph()
    exact = step.link("What does Aileen Moffat approve?", graph)
    assert exact[normalise("Aileen Moffat")] == (1.0, "name")
    fuzzy = step.link("What does the Chief Finance Officer approve?", graph)  # a near miss of the name
    weight, via = fuzzy[normalise("Chief Financial Officer")]
    assert via in ("token_overlap", "embedding") and weight >= 0.5
    assert normalise("Aileen Moffat") not in fuzzy


def test_doc_scope_restricts_graph_hits(crafted, embedder):
    step = GraphRetrieve(crafted, embedder, RetrievalConfig(top_k=3))
    [state] = step.run([RAGState(question=QUESTION, doc_scope="company/people.md")])
    assert state.hits and {h.chunk.doc_id for h in state.hits} == {"company/people.md"}


def test_graph_is_built_once_per_index_content(crafted, embedder, tmp_path):
    extractor = PatternExtractor()
    first, build = graph_for_index(crafted, extractor, tmp_path)
    assert build["source"] == "built" and (tmp_path / "graph" / f"{build['fingerprint']}.json").exists()
    assert graph_for_index(crafted, extractor, tmp_path)[1]["source"] == "memory"
    graph_module._GRAPH_CACHE.clear()
    again, build_again = graph_for_index(crafted, extractor, tmp_path)
    assert build_again["source"] == "disk" and again.to_dict() == first.to_dict()
    changed = build_index(embedder, {**CRAFTED, "hr/leave.md": "Employees accrue 30 days of annual leave."})
    assert graph_for_index(changed, extractor, tmp_path)[1]["fingerprint"] != build["fingerprint"]


# ------------------------------------------------------------------ storage and export


def test_json_round_trip_viewer_json_and_graphml(crafted, tmp_path):
    graph = build_graph(crafted.chunks)
    path = graph.save(tmp_path / "kg" / "graph.json")
    assert [p.name for p in path.parent.iterdir()] == ["graph.json"]  # no temporary file left
    loaded = KnowledgeGraph.load(path)
    assert loaded.to_dict() == graph.to_dict()
    assert loaded.find("Greylag") is None and loaded.find("aileen moffat").label == "Aileen Moffat"
    role = normalise("Chief Financial Officer")
    assert sorted(o for o, _ in loaded.neighbours(role)) == sorted(o for o, _ in graph.neighbours(role))

    viewer = json.loads(json.dumps(graph.to_json()))
    node = next(n for n in viewer["nodes"] if n["id"] == role)
    assert node["label"] == "Chief Financial Officer" and node["type"] == "role" and node["degree"] == graph.degree(role)
    edge = next(e for e in viewer["edges"] if e["relation"] == "holds_role")
    assert edge["chunk_ids"] == ["company/people.md#0"] and edge["target"] == role

    graphml = graph.export_graphml(tmp_path / "graph.graphml")
    root = ET.parse(graphml).getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == len(graph.nodes)
    assert len(root.findall(".//g:edge", ns)) == len(graph.edges)
    try:
        import networkx as nx
    except ImportError:
        return
    parsed = nx.read_graphml(graphml)
    assert parsed.nodes[role]["type"] == "role" and json.loads(parsed.nodes[role]["chunk_ids"]) == sorted(
        graph.nodes[role].chunk_ids)
    assert graph.to_networkx().number_of_edges() == len(graph.edges)


def test_unreadable_graph_file_is_a_clear_error(tmp_path):
    (tmp_path / "g.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(Exception, match="cannot read the knowledge graph"):
        KnowledgeGraph.load(tmp_path / "g.json")


# ------------------------------------------------------------------ the LLM extractor


class ScriptedLLM(BaseScriptedLLM):
    name = "scripted-extractor"
    prompt_tokens, completion_tokens = 40, 12


def test_parse_triples_tolerates_formatting():
    reply = """Here are the triples:
subject | relation | object
1. Aileen Moffat | holds role | Chief Financial Officer
- **Chief Financial Officer** | approves claims above | "£500".
(MV Greylag, has pump, KV-3318)
Port Manager -> reports to -> Director of Marine Operations
a | b
Aileen Moffat | holds role | Chief Financial Officer
""" + "x" * 100 + " | is | too long"
    assert parse_triples(reply) == [
        ("Aileen Moffat", "holds role", "Chief Financial Officer"),
        ("Chief Financial Officer", "approves claims above", "£500"),
        ("MV Greylag", "has pump", "KV-3318"),
        ("Port Manager", "reports to", "Director of Marine Operations"),
    ]


def test_llm_extractor_batches_caches_and_resumes(tmp_path):
    chunks = [chunk("Aileen Moffat is the CFO.", "people.md#0", "people.md"),
              chunk("Claims above £500 need CFO approval.", "policy.md#0", "policy.md"),
              chunk("MV Greylag has pump KV-3318.", "fleet.md#0", "fleet.md")]
    replies = {
        "Aileen": "Aileen Moffat | holds role | Chief Financial Officer",
        "Claims": "1. Chief Financial Officer | approves claims above | £500",
        "Greylag": "- MV Greylag | has pump | KV-3318",
    }

    def reply(conversation):
        text = conversation[-1]["content"].rsplit("Text:", 1)[1]
        return next(r for word, r in replies.items() if word in text)

    llm = ScriptedLLM(reply)
    extractor = LLMExtractor(llm, tmp_path, batch_size=2)
    graph = build_graph(chunks, extractor)
    assert [len(batch) for batch in llm.calls] == [2, 1] and extractor.llm_calls == 3
    assert graph.meta["llm_calls"] == 3 and graph.meta["extractor"] == extractor.name
    role = graph.find("Chief Financial Officer")
    assert role.type == "role" and role.doc_ids == {"people.md", "policy.md"}
    assert (normalise("Aileen Moffat"), role.key, "holds_role") in graph.edges  # "holds role" normalised
    assert graph.find("KV-3318").type == "code"

    # A second build reads every answer from the cache; a torn last line (a crash mid-write) is skipped.
    cache = tmp_path / "graph" / "llm-triples.jsonl"
    with open(cache, "a", encoding="utf-8") as out:
        out.write('{"key": "abc", "tri')
    again = LLMExtractor(ScriptedLLM(lambda c: pytest.fail("should be cached")), tmp_path, batch_size=2)
    assert build_graph(chunks, again).to_dict()["edges"] == graph.to_dict()["edges"]
    assert again.llm_calls == 0

    # A new chunk (or another model) costs exactly one call more.
    more = chunks + [chunk("Gideon Marsh is the Port Manager.", "org.md#0", "org.md")]
    replies["Gideon"] = "Gideon Marsh | holds role | Port Manager"
    resumed_llm = ScriptedLLM(reply)
    resumed = LLMExtractor(resumed_llm, tmp_path)
    build_graph(more, resumed)
    assert resumed.llm_calls == 1 and len(resumed_llm.calls[0]) == 1


# ------------------------------------------------------------------ the registry


def test_graph_step_from_the_registry(crafted, embedder, tmp_path):
    ctx = StepContext(index=crafted, embedder=embedder, llm_for=lambda: pytest.fail("no LLM needed"),
                      retrieval=RetrievalConfig(top_k=3), cache_dir=tmp_path)
    pipeline = build_pipeline([{"name": "graph", "params": {"also_chunks": True, "hops": 2}}], ctx)
    step = pipeline.steps[0]
    assert step.hops == 2 and step.also_chunks and step.graph is not None  # built when the step is
    assert list((tmp_path / "graph").glob("*.json"))
    with pytest.raises(ConfigError, match="hop"):
        build_pipeline([{"name": "graph", "params": {"hop": 2}}], ctx)
    with pytest.raises(ConfigError, match="extractor"):
        build_pipeline([{"name": "graph", "params": {"extractor": "magic"}}], ctx)
    domain = build_pipeline([{"name": "graph", "params": {"vocabulary": {"role_heads": ["bosun"]}}}], ctx).steps[0]
    assert domain.extractor.vocabulary.role_heads >= {"bosun", "officer"}
    with pytest.raises(ConfigError, match="vocabulary"):
        build_pipeline([{"name": "graph", "params": {"vocabulary": {"role_heads": "bosun"}}}], ctx)


def test_llm_extractor_through_the_registry_records_its_cost(crafted, embedder, tmp_path):
    def reply(conversation):
        text = conversation[-1]["content"].rsplit("Text:", 1)[1]
        if "Aileen" in text:
            return "Aileen Moffat | holds role | Chief Financial Officer"
        if "£500" in text:
            return "Chief Financial Officer | approves claims above | £500"
        return ""

    llm = ScriptedLLM(reply)
    ctx = StepContext(index=crafted, embedder=embedder, llm_for=lambda: llm, retrieval=RetrievalConfig(top_k=3),
                      cache_dir=tmp_path)
    step = build_pipeline([{"name": "graph", "params": {"extractor": "llm", "llm_batch_size": 4}}], ctx).steps[0]
    n_chunks = len(crafted.chunks)
    assert sum(len(batch) for batch in llm.calls) == n_chunks and len(llm.calls) == -(-n_chunks // 4)
    [state] = step.run([RAGState(question=QUESTION)])
    assert state.trace["graph"]["build"]["llm_calls"] == n_chunks
    assert state.llm_calls == 0  # an indexing cost, recorded in the trace, not charged per question
    assert {"policies/travel.md", "company/people.md"} <= {h.chunk.doc_id for h in state.hits}
