"""The lexical half of the hybrid index: BM25 (bm25s) over chunk texts, saved with each version.

Building BM25 tokenizes and stems every chunk: seconds at 10 k chunks, most of a minute at 100 k.
So a saved index version carries it, already built, in a ``bm25/`` subfolder::

    v-<stamp>/bm25/
      ragft_bm25.json          the tokenizer it was built with, and its number of chunks
      data.csc.index.npy …     bm25s's own files (score matrix, vocabulary, parameters)

and opening an index reads those files instead of rebuilding. The saved scores are only valid
for the tokenization that built them (queries must be stop-worded and stemmed the same way), so
``TOKENIZER`` names it: change ``tokens`` and change ``TOKENIZER`` too, and indexes saved before
are rebuilt on load instead of silently mis-matching. A version without the folder (saved by an
older ragft) or with one this bm25s cannot read is rebuilt from its chunk texts, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FOLDER = "bm25"
STAMP = "ragft_bm25.json"
TOKENIZER = "bm25s.tokenize stopwords=en stemmer=snowball-english"  # what `tokens` does; see above


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


def scores_across(retrievers: list, query: str) -> list[np.ndarray]:
    """Each segment's BM25 scores for ``query``, with one IDF over all of them.

    A segment's bm25s model weighs a word by how rare it is *in that segment*: in a fresh
    one-document segment every word of the document is "common". So with several segments each
    word's column is rescaled from its segment's IDF to the IDF over all segments' chunks (dead
    rows included until their segment is rewritten, as Lucene does). Only the length
    normalisation keeps the segment's own average chunk length, which the chunker keeps alike.
    Hand-written because bm25s has no multi-part index nor per-word weights.
    """
    if len(retrievers) == 1:
        return [scores(retrievers[0], query, int(retrievers[0].scores["num_docs"]))]
    words = tokens([query], return_ids=False)[0]
    columns = [[r.vocab_dict.get(w) for w in words] for r in retrievers]
    sizes = [int(r.scores["num_docs"]) for r in retrievers]
    found = [[_frequency(r, c) for c in cols] for r, cols in zip(retrievers, columns)]
    overall = [_idf(sum(f[i] for f in found), sum(sizes)) for i in range(len(words))]
    results = []
    for retriever, cols, freqs, size in zip(retrievers, columns, found, sizes):
        result = np.zeros(size, dtype=np.float32)
        data, indices, indptr = (retriever.scores[k] for k in ("data", "indices", "indptr"))
        for col, freq, idf in zip(cols, freqs, overall):
            if col is not None and freq:
                start, end = indptr[col], indptr[col + 1]
                result[indices[start:end]] += data[start:end] * np.float32(idf / _idf(freq, size))
        results.append(result)
    return results


def _frequency(retriever, column: int | None) -> int:
    """In how many of the segment's chunks the word occurs (its column's non-zeros)."""
    if column is None:
        return 0
    indptr = retriever.scores["indptr"]
    return int(indptr[column + 1] - indptr[column])


def _idf(frequency: int, n_docs: int) -> float:
    """bm25s's default (Lucene) IDF."""
    return float(np.log(1 + (n_docs - frequency + 0.5) / (frequency + 0.5)))


def save(retriever, version: Path) -> None:
    """Write ``retriever`` into ``version/bm25/`` (the caller fsyncs and renames the version)."""
    folder = version / FOLDER
    retriever.save(folder, show_progress=False)
    stamp = {"tokenizer": TOKENIZER, "num_docs": int(retriever.scores["num_docs"])}
    (folder / STAMP).write_text(json.dumps(stamp), encoding="utf-8")


def load(version: Path, n_docs: int, mmap: bool = True):
    """The BM25 saved in ``version`` for its ``n_docs`` chunks, or None when it must be rebuilt:
    none saved (an older ragft wrote the version), another tokenizer, another chunk count, or
    files this bm25s cannot read. FileNotFoundError when the version itself vanished meanwhile
    (a writer replaced it), so that the caller reads the new one."""
    import bm25s

    folder = version / FOLDER
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        if not isinstance(stamp, dict) or stamp.get("tokenizer") != TOKENIZER or stamp.get("num_docs") != n_docs:
            return None
        retriever = bm25s.BM25.load(folder, mmap=mmap, show_progress=False)
    except FileNotFoundError:
        if version.is_dir():
            return None  # saved before BM25 was persisted (or a file of it deleted by hand)
        raise
    except (OSError, ValueError, TypeError, KeyError):  # torn, or written by an incompatible bm25s
        return None
    return retriever if retriever.scores.get("num_docs") == n_docs else None
