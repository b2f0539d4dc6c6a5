"""What every chunker shares: character spans of a document's text, cutting them out as Chunks,
and checking a chunker's parameters against its model in :mod:`ragft.config`.

Chunkers work on spans and only cut them out at the end (:func:`build_chunks`), so
``doc.text[chunk.start:chunk.end] == chunk.text`` holds for every chunk by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ragft.config import describe_params_error
from ragft.corpus.loaders import page_for_offset
from ragft.errors import ConfigError
from ragft.types import Chunk, Document

Span = tuple[int, int]  # [start, end) character offsets into a document's text


class Chunker(Protocol):
    def chunk(self, doc: Document) -> list[Chunk]: ...


def param_default(model: type[BaseModel], name: str) -> Any:
    """A chunker field's default, as written once in its params model (``ragft.config``)."""
    return model.model_fields[name].default


def check_chunker_params(owner: str, model: type[BaseModel], values: dict[str, Any]) -> None:
    """A ConfigError naming the field when ``values`` do not fit the chunker's params model."""
    try:
        model.model_validate(values)
    except ValidationError as err:
        raise ConfigError(f"{owner}: {describe_params_error(err, model.model_fields)}") from None


def trim_span(text: str, start: int, end: int) -> Span:
    """Shrink a span so that it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def non_empty_trimmed(text: str, spans: list[Span]) -> list[Span]:
    trimmed = (trim_span(text, start, end) for start, end in spans)
    return [(start, end) for start, end in trimmed if start < end]


def pieces_between(text: str, separator: re.Pattern, start: int, end: int) -> list[Span]:
    """The trimmed, non-empty pieces of text[start:end] between matches of ``separator``."""
    pieces, piece_start = [], start
    for match in separator.finditer(text, start, end):
        pieces.append((piece_start, match.start()))
        piece_start = match.end()
    pieces.append((piece_start, end))
    return non_empty_trimmed(text, pieces)


def build_chunks(
    doc: Document,
    spans: list[Span],
    metadata_at: Callable[[int], dict[str, Any]] | None = None,
) -> list[Chunk]:
    """Cut the spans out of the document; ``metadata_at(start)`` adds chunker-specific fields."""
    chunks = []
    for start, end in non_empty_trimmed(doc.text, spans):
        metadata = inherited_metadata(doc, start)
        if metadata_at is not None:
            metadata.update(metadata_at(start))
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}#{len(chunks)}",
                doc_id=doc.doc_id,
                text=doc.text[start:end],
                start=start,
                end=end,
                metadata=metadata,
            )
        )
    return chunks


def inherited_metadata(doc: Document, start: int) -> dict[str, Any]:
    metadata = {key: doc.metadata[key] for key in ("title", "format") if key in doc.metadata}
    if doc.metadata.get("page_starts"):
        metadata["page"] = page_for_offset(doc.metadata["page_starts"], start)
    return metadata

