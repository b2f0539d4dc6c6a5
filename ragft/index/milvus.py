"""The index on Milvus: the same search interface as ``HybridIndex``, the chunks in a collection.

``index: {backend: milvus, uri: ...}`` in a workspace's ``ragft.yaml``. The uri is a local
``.db`` file — Milvus Lite, embedded in this process, the default (``<index>/milvus.db``) — or a
Milvus server or cluster (``http://host:19530``): the same pymilvus calls either way, so a corpus
that outgrows one machine moves to a cluster by changing the uri. One row per chunk: its id, document,
text (stemmed, stop-worded and turned into a BM25 sparse vector by Milvus itself, ``ANALYZER``), offsets,
metadata and unit vector (HNSW index, inner product). Document scope is a filter expression.

Hybrid search asks Milvus for the dense and the BM25 ranking (each filtered by document scope) and
fuses them with ragft's own weighted RRF, so ``dense_weight``/``bm25_weight``/``rrf_k`` mean what they
mean on the embedded index. An ingest deletes the rows of changed and removed documents and inserts
those of changed and added ones: its work is proportional to what changed. The manifest (content
hashes per document) stays beside, in ``<index>/milvus.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ragft.config import IndexConfig
from ragft.errors import RagftError
from ragft.index.changes import compare
from ragft.index.embedding import ProgressCallback, embed_texts
from ragft.index.store import IngestStats, Manifest, reciprocal_rank_fusion
from ragft.persist import atomic_write_text, text_sha256
from ragft.types import Chunk, Document, Hit

STATE = "milvus.json"  # beside the collection: uri, collection name, manifest
FIELDS = ["chunk_id", "doc_id", "text", "start", "end", "metadata"]
INSERT_BATCH = 2000
# Lower-cased, English stop words out, Snowball-stemmed: the same idea as the embedded BM25's
# tokenizer ("terminating" matches "terminate"), spelled as Milvus's analyzer settings.
ANALYZER = {"tokenizer": "standard",
            "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_"]}, {"type": "stemmer", "language": "english"}]}
_CLIENTS: dict[str, object] = {}  # one client per uri and process (Milvus Lite serves one file per process)


def has_index(directory: Path) -> bool:
    return (Path(directory) / STATE).is_file()


def client_for(uri: str):
    if uri not in _CLIENTS:
        from pymilvus import MilvusClient

        try:
            _CLIENTS[uri] = MilvusClient(uri)
        except Exception as err:  # pymilvus raises its own types, and OSError/ValueError for a bad path
            raise RagftError(f"index.uri {uri!r}: cannot reach Milvus ({str(err).splitlines()[0][:200]}) — give a "
                             "local path ending in .db (Milvus Lite) or a running server's http://host:19530") from None
    return _CLIENTS[uri]


def resolve_uri(directory: Path, settings: IndexConfig) -> str:
    if settings.uri:
        return settings.uri
    return str((Path(directory) / "milvus.db").resolve())


class MilvusIndex:
    """Chunks in a Milvus collection; searched densely, lexically (BM25) or both."""

    def __init__(self, client, collection: str, manifest: Manifest, embedder, settings: IndexConfig):
        self.client, self.collection = client, collection
        self.manifest, self.embedder, self.settings = manifest, embedder, settings
        self._all: tuple[list[Chunk], np.ndarray] | None = None

    # ----------------------------------------------------------------- opening and writing
    @classmethod
    def load(cls, directory: Path, embedder, settings: IndexConfig) -> MilvusIndex:
        state = _read_state(directory)
        if state is None:
            raise RagftError(f"{directory}: no index here — run `ragft ingest PATH` first")
        manifest = Manifest(**state["manifest"])
        if embedder is not None and embedder.name != manifest.embedder:
            raise RagftError(f"{directory}: built with embedder {manifest.embedder!r} but {embedder.name!r} is "
                             "configured — re-ingest, or configure the same embedder")
        client = client_for(resolve_uri(directory, settings))
        return cls(client, state["collection"], manifest, embedder, settings)

    @classmethod
    def ingest(cls, directory: Path, documents: list[Document], chunker, chunker_config: dict, embedder,
               settings: IndexConfig, progress: bool = False, on_progress: ProgressCallback | None = None,
               checkpoint: Path | None = None) -> tuple[MilvusIndex, IngestStats]:
        """Upsert what changed since the last ingest into the collection; delete what left."""
        started = time.perf_counter()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        client = client_for(resolve_uri(directory, settings))
        collection = "ragft_" + text_sha256(str(directory.resolve()))[:16]
        state = _read_state(directory)
        old = Manifest(**state["manifest"]) if state else None
        if old is None or old.embedder != embedder.name or old.chunker != chunker_config \
                or not client.has_collection(collection):
            old = None
            _create_collection(client, collection, embedder.dim)
        stats = IngestStats(documents=len(documents))
        manifest = Manifest(embedder=embedder.name, dim=embedder.dim, chunker=chunker_config)
        fresh: list[Chunk] = []
        for doc, unchanged in compare(documents, old.documents if old else {}, manifest.documents, stats, on_progress):
            if unchanged:
                count = old.documents[doc.doc_id]["n_chunks"]
            else:
                doc_chunks = chunker.chunk(doc)
                fresh.extend(doc_chunks)
                count = len(doc_chunks)
            manifest.documents[doc.doc_id]["n_chunks"] = count
        stale = [d for d in (old.documents if old else {}) if d not in manifest.documents
                 or manifest.documents[d]["sha256"] != old.documents[d]["sha256"]]
        embed_started = time.perf_counter()
        vectors, stats.resumed_chunks = embed_texts([c.text for c in fresh], embedder, progress, on_progress, checkpoint)
        stats.embed_seconds = time.perf_counter() - embed_started
        _delete_documents(client, collection, stale)
        _insert(client, collection, fresh, vectors)
        atomic_write_text(directory / STATE, json.dumps({"collection": collection, "uri": settings.uri,
                                                         "manifest": manifest.__dict__}, indent=1))
        stats.chunks = sum(d["n_chunks"] for d in manifest.documents.values())
        stats.embedded_chunks = len(fresh) - stats.resumed_chunks
        stats.seconds = time.perf_counter() - started
        return cls(client, collection, manifest, embedder, settings), stats

    # ----------------------------------------------------------------- search
    def search(self, query: str, k: int = 5, mode: str = "hybrid", dense_weight: float = 1.0,
               bm25_weight: float = 1.0, rrf_k: int = 60, candidates: int = 50,
               doc_ids: list[str] | None = None) -> list[Hit]:
        """Top-``k`` chunks for ``query``; ``doc_ids`` restricts the search to those documents."""
        if mode not in ("dense", "bm25", "hybrid"):
            raise RagftError(f"unknown retrieval mode {mode!r} — use dense, bm25 or hybrid")
        if not self.manifest.documents or (doc_ids is not None and not doc_ids):
            return []
        scope = f"doc_id in {json.dumps(list(doc_ids))}" if doc_ids is not None else ""
        if mode != "hybrid":
            return [Hit(chunk=c, score=s, rank=r, retriever=mode) for r, (c, s) in
                    enumerate(self._ranking(query, mode, k, scope), start=1)]
        depth = max(k, candidates)
        dense, lexical = self._ranking(query, "dense", depth, scope), self._ranking(query, "bm25", depth, scope)
        chunks = {c.chunk_id: c for c, _ in dense + lexical}
        fused = reciprocal_rank_fusion([[(c.chunk_id, s) for c, s in dense], [(c.chunk_id, s) for c, s in lexical]],
                                       weights=[dense_weight, bm25_weight], rrf_k=rrf_k)
        return [Hit(chunk=chunks[cid], score=float(s), rank=r, retriever="hybrid")
                for r, (cid, s) in enumerate(fused[:k], start=1)]

    def _ranking(self, query: str, mode: str, depth: int, scope: str) -> list[tuple[Chunk, float]]:
        if mode == "dense":
            if self.embedder is None:
                raise RagftError("this index was loaded without an embedder; dense search needs one")
            data, field = [self.embedder.embed([query])[0].tolist()], "dense"
            params = {"metric_type": "IP", "params": {"ef": max(self.settings.ef_search, depth)}}
        else:
            data, field, params = [query], "sparse", {"metric_type": "BM25"}
        found = self.client.search(self.collection, data=data, anns_field=field, limit=depth, filter=scope,
                                   output_fields=FIELDS, search_params=params)[0]
        # Best first. Milvus Lite reports BM25 as negated scores (a server, as positive ones): only the
        # order is used (fusion is by rank), the score is passed on as the engine gave it.
        return [(_chunk(hit["entity"]), float(hit["distance"])) for hit in found]

    # ----------------------------------------------------------------- the whole corpus (advanced steps)
    @property
    def doc_ids(self) -> list[str]:
        return list(self.manifest.documents)

    @property
    def chunks(self) -> list[Chunk]:
        """Every chunk, in manifest order (read from the collection once, on first use: the steps
        that need the whole corpus — graph, hypothetical questions, RAFT — are built from it)."""
        return self._everything()[0]

    @property
    def embeddings(self) -> np.ndarray:
        return self._everything()[1]

    def _everything(self) -> tuple[list[Chunk], np.ndarray]:
        if self._all is None:
            rows = []
            iterator = self.client.query_iterator(self.collection, batch_size=1000, filter="",
                                                  output_fields=[*FIELDS, "dense"])
            while batch := iterator.next():
                rows.extend(batch)
            iterator.close()
            order = {d: i for i, d in enumerate(self.manifest.documents)}
            rows.sort(key=lambda r: (order.get(r["doc_id"], len(order)), r["start"], r["chunk_id"]))
            vectors = np.asarray([r["dense"] for r in rows], dtype=np.float32).reshape(len(rows), self.manifest.dim)
            self._all = ([_chunk(r) for r in rows], vectors)
        return self._all


def _chunk(row: dict) -> Chunk:
    return Chunk(row["chunk_id"], row["doc_id"], row["text"], int(row["start"]), int(row["end"]),
                 json.loads(row["metadata"]) if row["metadata"] else {})


def _read_state(directory: Path) -> dict | None:
    try:
        return json.loads((Path(directory) / STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise RagftError(f"{directory / STATE}: cannot be read ({err}) — re-run `ragft ingest`") from None


def _create_collection(client, collection: str, dim: int) -> None:
    """A fresh collection: chunk fields, the BM25 function over the text, HNSW on the vectors."""
    from pymilvus import DataType, Function, FunctionType

    if client.has_collection(collection):
        client.drop_collection(collection)
    schema = client.create_schema(auto_id=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=1024)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("metadata", DataType.VARCHAR, max_length=65535)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 80})
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(collection, schema=schema, index_params=index)


def _delete_documents(client, collection: str, doc_ids: list[str]) -> None:
    for start in range(0, len(doc_ids), 500):
        client.delete(collection, filter=f"doc_id in {json.dumps(doc_ids[start:start + 500])}")


def _insert(client, collection: str, chunks: list[Chunk], vectors: np.ndarray) -> None:
    for start in range(0, len(chunks), INSERT_BATCH):
        rows = [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text[:65535], "start": c.start, "end": c.end,
                 "metadata": json.dumps(c.metadata, ensure_ascii=False) if c.metadata else "",
                 "dense": v.tolist()} for c, v in zip(chunks[start:start + INSERT_BATCH], vectors[start:start + INSERT_BATCH])]
        client.upsert(collection, rows)
