"""Chunks stored as columns (an Arrow IPC file), memory-mapped: opening an index parses nothing.

``chunks.jsonl`` had to be parsed line by line into ``Chunk`` objects on every load (0.6 s at
100 k chunks). ``chunks.arrow`` holds the same fields as columns; ``ChunkTable`` maps the file and
makes a ``Chunk`` only when one is asked for (a search's hits), so loading costs the same at any
size. It is a read-only sequence of ``Chunk``: ``len``, indexing and iteration work as on a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ragft.types import Chunk

FILE = "chunks.arrow"
LEGACY_FILE = "chunks.jsonl"  # what versions saved before chunks.arrow hold; still read
_FIELDS = ("chunk_id", "doc_id", "text", "start", "end", "metadata")


def save(chunks: Sequence[Chunk], version: Path) -> None:
    import pyarrow as pa

    columns = {
        "chunk_id": pa.array([c.chunk_id for c in chunks], pa.string()),
        "doc_id": pa.array([c.doc_id for c in chunks], pa.string()),
        "text": pa.array([c.text for c in chunks], pa.large_string()),
        "start": pa.array([c.start for c in chunks], pa.int64()),
        "end": pa.array([c.end for c in chunks], pa.int64()),
        "metadata": pa.array([json.dumps(c.metadata, ensure_ascii=False) if c.metadata else "" for c in chunks],
                             pa.string()),
    }
    with pa.OSFile(str(version / FILE), "wb") as sink, pa.ipc.new_file(sink, pa.schema(
            [(name, array.type) for name, array in columns.items()])) as writer:
        writer.write_table(pa.table(columns))


def load(version: Path) -> Sequence[Chunk]:
    """The version's chunks: mapped from ``chunks.arrow``, or parsed from an older ``chunks.jsonl``."""
    if not (version / FILE).is_file() and (version / LEGACY_FILE).is_file():
        with open(version / LEGACY_FILE, encoding="utf-8") as lines:
            return [Chunk(**json.loads(line)) for line in lines if line.strip()]
    import pyarrow as pa

    source = pa.memory_map(str(version / FILE), "r")  # FileNotFoundError: the version vanished
    try:
        return ChunkTable(pa.ipc.open_file(source).read_all())
    except pa.ArrowInvalid as err:
        raise ValueError(f"{FILE}: {err}") from None


class ChunkTable(Sequence):
    """A read-only sequence of ``Chunk`` over a mapped Arrow table (one ``Chunk`` made per access)."""

    def __init__(self, table):
        self._table = table
        self._columns = [table.column(name) for name in _FIELDS]

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return _chunk(*(column[row].as_py() for column in self._columns))

    def __iter__(self) -> Iterator[Chunk]:
        for batch in self._table.to_batches(max_chunksize=4096):
            yield from (_chunk(*values) for values in zip(*(batch.column(n).to_pylist() for n in _FIELDS)))

    def rows_by_doc(self) -> dict[str, np.ndarray]:
        """Each document's rows, grouped in Arrow and NumPy (one Python object per document, not per row)."""
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(self._table.column("doc_id").combine_chunks())
        codes = encoded.indices.to_numpy()
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(encoded.dictionary) + 1))
        return {name: order[bounds[i]:bounds[i + 1]] for i, name in enumerate(encoded.dictionary.to_pylist())}


def _chunk(chunk_id, doc_id, text, start, end, metadata) -> Chunk:
    return Chunk(chunk_id, doc_id, text, start, end, json.loads(metadata) if metadata else {})
