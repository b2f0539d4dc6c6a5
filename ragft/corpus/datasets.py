"""Dataset adapters: turn published QA sets into ``QAExample`` lists over a corpus folder.

- ``load_kdd_lab_qa``: the KDD 2024 tutorial's lab CSVs (``index, question, input, answer,
  qa_id``), with the CUAD clauses of each question attached as gold evidence.
- ``load_cuad``: CUAD's ``master_clauses.csv`` → one question per contract and clause category.

Generic CSV/JSONL QA files are read by ``ragft.corpus.qa.load_qa_file``, public formats by
``ragft.corpus.public_formats``; ``load_dataset`` reads whichever a study's dataset config
(``DatasetConfig``, used by ``ragft.study.study_config``) names.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ragft.config import _Strict
from ragft.corpus.public_formats import FORMATS as PUBLIC_FORMATS, detect_format, load_public
from ragft.corpus.qa import load_qa_file
from ragft.errors import ConfigError, RagftError
from ragft.types import QAExample

csv.field_size_limit(1 << 30)  # CUAD rows hold whole clause lists in single cells


class DatasetConfig(_Strict):
    """Where questions come from; ``kind`` picks the adapter."""

    # squad … beir: a public dataset file (a folder for beir) read by ragft.corpus.public_formats;
    # auto: detected from the content (any of those, or a qa_file)
    kind: Literal["qa_file", "kdd_lab", "cuad", "squad", "pubmedqa", "hotpotqa", "musique", "beir", "auto"] = "qa_file"
    path: str | None = None  # qa_file: CSV/JSONL; kdd_lab: the lab's *_qa.csv; public formats: the file/folder
    cuad_dir: str | None = None  # kdd_lab (for gold clauses) and cuad
    task_type: str | None = None  # override the file's task type
    n: int | None = Field(None, ge=1)  # sample this many questions (reproducibly)
    seed: int = 0
    scope_to_contract: bool = True  # CUAD/lab: retrieve only within the question's contract
    question_style: Literal["tutorial", "cuad"] = "tutorial"
    # Split by document, so train and test never ask about the same document: "test" keeps the
    # questions whose document falls in a reproducible ``split_share`` of documents, "train" the rest.
    split: Literal["all", "train", "test"] = "all"
    split_share: float = Field(0.2, gt=0, lt=1)
    exclude_docs: list[str] = Field(default_factory=list)  # drop questions about these documents
    qrels: str = "test"  # beir: judge with qrels/<qrels>.tsv (test, dev, train)
    unanswerable: Literal["keep", "skip"] = "keep"  # squad v2, musique: keep them (gold: "Not found…") or drop

    @model_validator(mode="after")
    def _needs_a_source(self):
        if self.kind != "cuad" and not self.path:
            raise ValueError(f"a {self.kind} dataset needs 'path'")
        if self.kind == "cuad" and not self.cuad_dir:
            raise ValueError("a cuad dataset needs 'cuad_dir'")
        return self


@dataclass(frozen=True)
class CuadCategory:
    name: str
    description: str
    answer_format: str


def read_cuad_categories(cuad_dir: Path) -> dict[str, CuadCategory]:
    """Category → description, from ``category_descriptions.csv`` ("Category: X" style cells)."""
    path = Path(cuad_dir) / "category_descriptions.csv"
    rows = _read_csv(path)
    categories = {}
    for row in rows:
        values = [v.split(":", 1)[1].strip() if ":" in v else v.strip() for v in row.values()]
        name, description, answer_format = (values + ["", "", ""])[:3]
        categories[name] = CuadCategory(name, description, answer_format)
    return categories


def read_master_clauses(cuad_dir: Path) -> dict[str, dict[str, list[str]]]:
    """Contract text file name → category → expert-highlighted clause texts."""
    rows = _read_csv(Path(cuad_dir) / "master_clauses.csv")
    contracts = {}
    for row in rows:
        text_file = row.get("Text File") or Path(row["Filename"]).with_suffix(".txt").name
        clauses = {}
        for column, cell in row.items():
            if column in ("Filename", "Text File") or column.rstrip().endswith("Answer"):
                continue
            clauses[column] = _parse_clause_list(cell)
        contracts[text_file] = clauses
    return contracts


def load_kdd_lab_qa(qa_csv: Path, cuad_dir: Path | None = None, scope_to_contract: bool = True) -> list[QAExample]:
    """The tutorial's lab questions; ``qa_id`` is ``<contract stem>__<category>``.

    With ``cuad_dir`` each question gets its CUAD clauses as evidence texts, so retrieval can be
    scored against the exact clause spans. ``scope_to_contract`` restricts retrieval to the
    question's own contract, as the tutorial did (it indexed one contract at a time).
    """
    clauses = read_master_clauses(cuad_dir) if cuad_dir else {}
    examples = []
    for line, row in enumerate(_read_csv(Path(qa_csv), required=("question", "answer", "qa_id")), start=2):
        stem, _, category = row["qa_id"].partition("__")
        doc_id = f"{stem}.txt"
        examples.append(QAExample(
            qid=row["qa_id"], question=row["question"].strip(), answers=[row["answer"].strip()],
            task_type="span_qa", evidence_doc_ids=[doc_id],
            evidence_texts=clauses.get(doc_id, {}).get(category, []),
            doc_scope=doc_id if scope_to_contract else None,
            metadata={"category": category, "source_line": line}, origin=f"{qa_csv}: line {line}",
        ))
    return examples


def load_cuad(cuad_dir: Path, question_style: str = "tutorial", include_empty: bool = False,
              scope_to_contract: bool = True, n: int | None = None, seed: int = 0,
              categories: list[str] | None = None) -> list[QAExample]:
    """One question per contract × category, the highlighted clauses as gold.

    ``question_style``: "tutorial" asks "What is <description>?" (the lab's phrasing); "cuad" asks
    CUAD's official "Highlight the parts (if any) of this contract related to …" question.
    Categories with no highlighted clause are skipped unless ``include_empty`` (then the gold
    answer is "Not found in the documents").
    """
    descriptions = read_cuad_categories(cuad_dir)
    examples = []
    for doc_id, by_category in sorted(read_master_clauses(cuad_dir).items()):
        for category, clauses in by_category.items():
            if categories and category not in categories:
                continue
            if not clauses and not include_empty:
                continue
            description = descriptions.get(category, CuadCategory(category, category, "")).description
            examples.append(QAExample(
                qid=f"{Path(doc_id).stem}__{category}",
                question=_cuad_question(category, description, question_style),
                answers=[", ".join(clauses) if clauses else "Not found in the documents"],
                task_type="span_qa", evidence_doc_ids=[doc_id], evidence_texts=clauses,
                doc_scope=doc_id if scope_to_contract else None, metadata={"category": category},
            ))
    return sample(examples, n, seed)


def sample(examples: list[QAExample], n: int | None, seed: int = 0) -> list[QAExample]:
    """A reproducible random subset (order kept), or all when ``n`` is None or large enough."""
    if n is None or n >= len(examples):
        return examples
    chosen = set(random.Random(seed).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in chosen]


def _cuad_question(category: str, description: str, style: str) -> str:
    if style == "tutorial":  # the lab's phrasing: a description that is a question is asked as is
        return description.strip() if "?" in description else f"What is {description}?"
    if style == "cuad":
        return (f'Highlight the parts (if any) of this contract related to "{category}" that should be '
                f"reviewed by a lawyer. Details: {description}")
    raise RagftError(f"question_style {style!r} — use 'tutorial' or 'cuad'")


def _parse_clause_list(cell: str) -> list[str]:
    cell = (cell or "").strip()
    if not cell.startswith("["):
        return [cell] if cell else []
    try:
        value = ast.literal_eval(cell)  # literal_eval only parses literals: safe on untrusted text
    except (ValueError, SyntaxError):
        return [cell]
    return [str(v).strip() for v in value if str(v).strip()]


def _read_csv(path: Path, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    if not path.is_file():
        raise RagftError(f"{path}: file not found — check the dataset path")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise RagftError(f"{path}: missing column(s) {', '.join(missing)} — expected {', '.join(required)}")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise RagftError(f"{path}: cannot read as UTF-8 CSV ({err})") from None


def load_dataset(dataset: DatasetConfig, say: Callable[[str], None] | None = None) -> list[QAExample]:
    """The questions a dataset config names, sampled and with any task-type override applied.

    ``say`` receives one line per note from a public-format reader (e.g. questions skipped).
    """
    kind = detect_format(dataset.path) if dataset.kind == "auto" else dataset.kind
    if kind == "qa_file":
        examples = load_qa_file(Path(dataset.path))
    elif kind in PUBLIC_FORMATS:
        public = load_public(dataset.path, kind, qrels=dataset.qrels, unanswerable=dataset.unanswerable)
        examples = public.examples
        for note in public.notes if say else ():
            say(note)
    elif kind == "kdd_lab":
        examples = load_kdd_lab_qa(Path(dataset.path), Path(dataset.cuad_dir) if dataset.cuad_dir else None,
                                   scope_to_contract=dataset.scope_to_contract)
    else:
        examples = load_cuad(Path(dataset.cuad_dir), question_style=dataset.question_style,
                             scope_to_contract=dataset.scope_to_contract)
    examples = split_by_document(examples, dataset.split, dataset.split_share, dataset.seed)
    if dataset.exclude_docs:
        examples = [e for e in examples if _document_of(e) not in set(dataset.exclude_docs)]
    examples = sample(examples, dataset.n, dataset.seed)
    if dataset.task_type:
        for example in examples:
            example.task_type = dataset.task_type
    if not examples:
        raise ConfigError(f"{dataset.path or dataset.cuad_dir}: no questions — check the dataset")
    return examples


def split_by_document(examples: list[QAExample], part: str, share: float, seed: int = 0) -> list[QAExample]:
    """The "train" or "test" part of a split by document (a question follows its document).

    A document is in the test part when the hash of (seed, document id) falls below ``share``:
    reproducible, and stable when documents are added or removed.
    """
    if part == "all":
        return examples

    def in_test(example: QAExample) -> bool:
        digest = hashlib.sha256(f"{seed}:{_document_of(example)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < share

    return [e for e in examples if in_test(e) == (part == "test")]


def _document_of(example: QAExample) -> str:
    return example.doc_scope or (example.evidence_doc_ids[0] if example.evidence_doc_ids else "")
