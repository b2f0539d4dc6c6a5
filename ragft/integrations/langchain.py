"""A LangChain retriever over a ragft workspace: the served variant's index and retrieval settings.

    from ragft.integrations.langchain import RagftRetriever
    retriever = RagftRetriever(workspace="ws")            # the deployed variant (else rag.base)
    docs = retriever.invoke("Who approves travel claims?")  # LangChain Documents, with their source

Needs ``langchain-core`` (``pip install langchain-core``). Retrieval only: for answers, point
LangChain's ``ChatOpenAI`` at ``ragft serve``'s ``/v1`` instead.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import PrivateAttr

from ragft.api import OpenWorkspace


class RagftRetriever(BaseRetriever):
    workspace: str
    variant: str | None = None  # a served variant id [the deployed default, else rag.base]
    k: int | None = None  # chunks to return [the variant's top_k]
    _opened: Any = PrivateAttr(default=None)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if self._opened is None:
            self._opened = OpenWorkspace(self.workspace)
        engine = self._opened.engine
        spec = (engine.variant(self.variant) if self.variant else engine.default_variant("rag")).spec
        r = spec.retrieval
        index = engine.models.index_for(spec.chunker, spec.embedder)
        hits = index.search(query, k=self.k or r.top_k, mode=r.mode, dense_weight=r.dense_weight,
                            bm25_weight=r.bm25_weight, rrf_k=r.rrf_k, candidates=r.candidates)
        return [Document(page_content=h.chunk.text, metadata={
            "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "start": h.chunk.start, "end": h.chunk.end,
            "score": float(h.score), "rank": h.rank, "retriever": h.retriever}) for h in hits]
