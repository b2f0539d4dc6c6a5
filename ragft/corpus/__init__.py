"""Corpus layer: load documents, split them into chunks, read QA datasets."""

from ragft.corpus.chunk_base import Chunker
from ragft.corpus.chunkers import CHUNKERS, FixedSizeChunker, SentenceChunker, make_chunker
from ragft.corpus.recursive import RecursiveChunker
from ragft.corpus.sentences import split_sentences
from ragft.corpus.formats import SUPPORTED_EXTENSIONS, LoadError
from ragft.corpus.loaders import (
    LoadReport,
    SkippedFile,
    load_document,
    load_folder,
    page_for_offset,
)
from ragft.corpus.qa import QAFileError, load_qa_file, save_qa_file

__all__ = [
    "CHUNKERS",
    "SUPPORTED_EXTENSIONS",
    "Chunker",
    "FixedSizeChunker",
    "LoadError",
    "LoadReport",
    "QAFileError",
    "RecursiveChunker",
    "SentenceChunker",
    "SkippedFile",
    "load_document",
    "load_folder",
    "load_qa_file",
    "make_chunker",
    "page_for_offset",
    "save_qa_file",
    "split_sentences",
]
