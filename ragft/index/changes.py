"""What an ingest changes: each document compared with the previous index's manifest by content
hash. Both backends use it, so "unchanged", "changed", "added", "removed" and duplicate texts mean
the same whichever one stores the chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ragft.persist import text_sha256
from ragft.types import Document


def compare(documents: list[Document], old_docs: dict[str, dict], new_docs: dict[str, dict], stats,
            on_progress: Callable[[str, int, int], None] | None = None) -> Iterator[tuple[Document, bool]]:
    """Each document with True when its text is as in ``old_docs`` (doc_id → manifest entry).
    Fills ``new_docs`` with the new manifest entries (chunk counts: the caller's, ``n_chunks``
    starts at 0) and ``stats``'s document counts; ``stats.removed`` is set when the loop ends."""
    first_with: dict[str, str] = {}  # content hash -> the first document with that text
    for done, doc in enumerate(documents, start=1):
        if on_progress is not None:
            on_progress("chunking", done - 1, len(documents))
        sha = doc.metadata.get("content_sha256") or text_sha256(doc.text)
        if sha in first_with:  # indexed anyway (its id may be what a question cites), but said
            stats.duplicates.append((doc.doc_id, first_with[sha]))
        first_with.setdefault(sha, doc.doc_id)
        old = old_docs.get(doc.doc_id)
        unchanged = bool(old) and old["sha256"] == sha
        stats.unchanged += unchanged
        stats.changed += bool(old) and not unchanged
        stats.added += not old
        new_docs[doc.doc_id] = {"sha256": sha, "source": doc.source, "n_chunks": 0,
                                "title": doc.metadata.get("title", "")}
        yield doc, unchanged
    stats.removed = len(set(old_docs) - set(new_docs))
    if on_progress is not None:
        on_progress("chunking", len(documents), len(documents))
