"""The lexical half of the hybrid index: BM25 (bm25s) over chunk texts, with ragft's tokenizer."""

from __future__ import annotations

import numpy as np


def build(texts: list[str]):
    """A bm25s model over ``texts``, in memory."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(tokens(texts), show_progress=False)
    return retriever


def tokens(texts: list[str], return_ids: bool = True):
    """English stop words removed and Snowball-stemmed, so "terminating" matches "terminate"."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER.setdefault("en", Stemmer.Stemmer("english")),
                          show_progress=False, return_ids=return_ids)


_STEMMER: dict = {}  # PyStemmer objects are cheap but not free; one per process


def scores(retriever, query: str, n_docs: int) -> np.ndarray:
    """The BM25 score of every chunk for ``query`` (zeros when no query word is in the corpus)."""
    known = [t for t in tokens([query], return_ids=False)[0] if t in retriever.vocab_dict]
    if not known:
        return np.zeros(n_docs, dtype=np.float32)
    return np.asarray(retriever.get_scores(known), dtype=np.float32)

