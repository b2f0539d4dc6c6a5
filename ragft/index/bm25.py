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
        if (version / "manifest.json").is_file():
            return None  # saved before BM25 was persisted (or a file of it deleted by hand)
        raise
    except (OSError, ValueError, TypeError, KeyError):  # torn, or written by an incompatible bm25s
        return None
    return retriever if retriever.scores.get("num_docs") == n_docs else None
