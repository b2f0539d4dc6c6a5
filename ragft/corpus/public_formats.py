"""Read public QA benchmarks as they are published: documents plus questions, no converter.

One file (or BEIR folder) gives both the corpus and the questions, so a study can name it as
``corpus:`` and as ``test: {kind: squad, path: …}`` (or ``kind: auto``). Choices made here:

* **SQuAD** v1.1/v2.0 JSON: every paragraph's ``context`` is one document
  ``squad/<title>-<n>`` (n counts the article's paragraphs from 1), headed by the article
  title. Gold answers are the annotators' spans (``span_qa``); the evidence is the sentence
  around each span. v2.0's unanswerable questions are *kept* by default with the answer
  "Not found in the documents." (the phrase the RAG prompt asks for, so refusing is scored
  right) and no evidence; ``unanswerable="skip"`` drops them, and a note gives the count.
* **PubMedQA** JSON (``{pmid: {QUESTION, CONTEXTS, final_decision, LONG_ANSWER}}``): the
  abstract is document ``pubmed/<pmid>``; ``final_decision`` (yes/no/maybe) is the answer of a
  ``classification`` question. The conclusion (LONG_ANSWER) is not in the abstract, so it is
  kept in ``metadata["long_answer"]``, not as evidence.
* **HotpotQA** JSON and **MuSiQue** JSONL: every paragraph is a document ``hotpot/<title>`` /
  ``musique/<title>``, deduplicated by title and text across questions, so the paragraphs the
  questions share make one corpus. Supporting paragraphs give ``evidence_doc_ids`` and (HotpotQA:
  the supporting sentences; MuSiQue: the paragraph) ``evidence_texts``; ``multi_hop``.
  MuSiQue's unanswerable questions follow the SQuAD rule.
* **BEIR** folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): documents
  ``beir/<_id>``; each query with a relevance ≥ 1 judgement is a question whose
  ``evidence_doc_ids`` are its relevant documents. BEIR has no answers, so the gold answer is
  the text of the best-rated relevant document (``long_form``): a BEIR study is a retrieval
  study — set ``primary_metric: doc_ndcg@k`` and read the answer metrics as "how much of the
  relevant passage did the answer reproduce".

Doc ids are stable (derived from titles/ids, not positions in a shuffled list), path-safe, and
unique: a second, different paragraph under a title already used gets ``~<hash>`` appended.
Every problem is one :class:`FormatError` line naming the file, the record and what is expected.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.corpus.sentences import split_sentences
from ragft.corpus.loaders import LoadReport, load_folder
from ragft.errors import RagftError
from ragft.persist import text_sha256
from ragft.types import Document, QAExample

FORMATS = ("squad", "pubmedqa", "hotpotqa", "musique", "beir")
NOT_FOUND = "Not found in the documents."
EXPECTED = ('SQuAD JSON {"data": [{"paragraphs": [...]}]}, PubMedQA JSON {pmid: {"QUESTION", "CONTEXTS", ...}}, '
            'HotpotQA JSON [{"supporting_facts", "context", ...}], MuSiQue JSONL (one {"question", "paragraphs", ...} '
            "per line), a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) or a ragft QA file (.jsonl/.csv)")


class FormatError(RagftError):
    """A public dataset file is not in the format it claims (or in none we know)."""


@dataclass
class PublicDataset:
    """What one public dataset holds, read once: its documents and its questions."""

    format: str
    documents: list[Document]
    examples: list[QAExample]
    notes: list[str] = field(default_factory=list)  # what was skipped or decided, one line each


# ---------------------------------------------------------------------------------------------
# Detection and entry points
# ---------------------------------------------------------------------------------------------


def detect_format(path: Path | str) -> str:
    """One of :data:`FORMATS`, or ``"qa_file"`` for ragft's own JSONL/CSV; FormatError otherwise."""
    path = Path(path)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return "beir"
        raise FormatError(f"{path}: a folder, but not a BEIR one — expected corpus.jsonl, queries.jsonl and "
                          "qrels/<split>.tsv in it")
    if path.suffix.lower() == ".csv":
        return "qa_file"
    return _detect(_parse(path)[0], path)


def is_dataset_path(path: Path | str) -> bool:
    """True for a BEIR folder or a .json/.jsonl file: a corpus path to read with :func:`load_public`."""
    path = Path(path)
    if path.is_dir():
        return (path / "corpus.jsonl").is_file()
    return path.suffix.lower() in (".json", ".jsonl", ".ndjson")


def load_public(path: Path | str, format: str = "auto", *, qrels: str = "test",
                unanswerable: str = "keep") -> PublicDataset:
    """The documents and questions of a public dataset (``format="auto"`` detects it)."""
    path = Path(path)
    if format == "beir" or (format == "auto" and path.is_dir()):
        return _beir(path, qrels)
    data, lines = _parse(path)
    detected = _detect(data, path)
    if format not in ("auto", detected):
        raise FormatError(f"{path}: looks like {detected}, not {format} — set kind: {detected} (or auto)")
    if detected == "qa_file":
        raise FormatError(f"{path}: a ragft QA file, which holds questions but no documents — use it as "
                          "test: {kind: qa_file} with a folder of documents as corpus:")
    if unanswerable not in ("keep", "skip"):
        raise FormatError(f"unanswerable: {unanswerable!r} — use keep or skip")
    reader = {"squad": _squad, "pubmedqa": _pubmedqa, "hotpotqa": _hotpotqa, "musique": _musique}[detected]
    return reader(data, lines, path, unanswerable == "keep")


def load_corpus(path: Path | str, progress: bool = False, on_progress=None) -> LoadReport:
    """A corpus path: a folder (or file) of documents, or a public dataset's documents."""
    path = Path(path)
    if not is_dataset_path(path):
        return load_folder(path, progress=progress, on_progress=on_progress)
    dataset = load_public(path)
    return LoadReport(documents=dataset.documents)


def _parse(path: Path) -> tuple[Any, list[int] | None]:
    """A .json file's value, or a .jsonl file's records with their 1-based line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError(f"{path}: file not found — check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot be read as UTF-8 text ({exc}) — expected {EXPECTED}") from None
    if path.suffix.lower() != ".json":
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        return [_json(line, f"{path}: line {n}") for n, line in numbered], [n for n, _ in numbered]
    return _json(text, str(path)), None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: invalid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None


def _detect(data: Any, path: Path) -> str:
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return "squad"
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "QUESTION" in v for v in data.values()):
        return "pubmedqa"
    first = data[0] if isinstance(data, list) and data else None
    if isinstance(first, dict):
        if "supporting_facts" in first:
            return "hotpotqa"
        if "paragraphs" in first:
            return "musique"
        if "question" in first:
            return "qa_file"
    raise FormatError(f"{path}: unknown dataset format — expected {EXPECTED}")


# ---------------------------------------------------------------------------------------------
# Building documents
# ---------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A path-safe id part: lower case letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")[:80] or "untitled"


class _Corpus:
    """Documents in first-seen order, deduplicated by a key, each with a unique stable id."""

    def __init__(self, prefix: str, path: Path, format: str):
        self.prefix, self.path, self.format = prefix, path, format
        self.documents: dict[str, Document] = {}
        self._by_key: dict[Any, str] = {}

    def add(self, title: str, body: str, name: str | None = None, key: Any = None) -> str:
        """The doc id of this paragraph, adding it when new (``key`` defaults to title and text)."""
        key = (title, body) if key is None else key
        if key in self._by_key:
            return self._by_key[key]
        doc_id = f"{self.prefix}/{name or slug(title)}"
        if doc_id in self.documents:
            doc_id += "~" + hashlib.sha1(repr(key).encode()).hexdigest()[:8]
        text = f"# {title}\n\n{body}" if title else body
        self.documents[doc_id] = Document(doc_id, text, f"{self.path}", {
            "format": self.format, "title": title or doc_id,
            "content_sha256": text_sha256(text)})
        self._by_key[key] = doc_id
        return doc_id

    def dataset(self, examples: list[QAExample], notes: list[str]) -> PublicDataset:
        if not examples:
            raise FormatError(f"{self.path}: no questions found in this {self.format} file — check the file")
        return PublicDataset(self.format, list(self.documents.values()), examples, notes)


def _need(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``record[key]`` of the expected type, or one FormatError line saying what is missing."""
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, kind):
        names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        problem = "is missing" if value is None else f"is {type(value).__name__}, not {names}"
        raise FormatError(f"{where}: field {key!r} {problem} — check the file is the format it looks like")
    return value


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item.strip() for item in items if item and item.strip()))


def _where(path: Path, lines: list[int] | None, index: int, qid: Any = None) -> str:
    """'file: line 7' where a line is known, else 'file: record 3 (id …)' (both 1-based)."""
    if lines is not None:
        return f"{path}: line {lines[index]}"
    return f"{path}: record {index + 1}" + (f" (id {qid})" if qid is not None else "")


# ---------------------------------------------------------------------------------------------
# The formats
# ---------------------------------------------------------------------------------------------


def _squad(data: dict, lines: None, path: Path, keep_unanswerable: bool) -> PublicDataset:
    corpus, examples, skipped = _Corpus("squad", path, "squad"), [], 0
    for a, article in enumerate(_need(data, "data", list, str(path))):
        title = str(article.get("title") or f"article-{a + 1}") if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_need(article, "paragraphs", list, f"{path}: data[{a}]"), start=1):
            where = f"{path}: data[{a}].paragraphs[{p - 1}]"
            context = _need(paragraph, "context", str, where)
            doc_id = corpus.add(title, context, f"{slug(title)}-{p}")
            for q, qa in enumerate(_need(paragraph, "qas", list, where)):
                example = _squad_question(qa, doc_id, context, f"{where}.qas[{q}]", keep_unanswerable)
                skipped += example is None
                examples += [example] if example else []
    notes = [f"{path}: skipped {skipped} unanswerable questions (unanswerable: skip)"] if skipped else []
    return corpus.dataset(examples, notes)


def _squad_question(qa: dict, doc_id: str, context: str, where: str, keep_unanswerable: bool) -> QAExample | None:
    qid = str(_need(qa, "id", (str, int), where))
    question = _need(qa, "question", str, where).strip()
    origin = f"{where} (id {qid})"
    spans = [s for s in _need(qa, "answers", list, where) if isinstance(s, dict) and str(s.get("text", "")).strip()]
    if qa.get("is_impossible") or not spans:
        if not keep_unanswerable:
            return None
        return QAExample(qid, question, [NOT_FOUND], "span_qa", metadata={"unanswerable": True}, origin=origin)
    answers = _unique([str(s["text"]) for s in spans])
    evidence = _unique([_sentence_around(context, str(s["text"]), s.get("answer_start")) for s in spans])
    return QAExample(qid, question, answers, "span_qa", [doc_id], evidence, origin=origin)


def _sentence_around(context: str, answer: str, start: Any) -> str:
    """The sentence holding the answer span (the answer itself when it crosses sentences)."""
    if not isinstance(start, int) or context[start:start + len(answer)] != answer:
        start = context.find(answer)
    if start < 0:
        return answer
    for first, last in split_sentences(context):
        if first <= start and start + len(answer) <= last:
            return context[first:last]
    return answer


def _pubmedqa(data: dict, lines: None, path: Path, keep_unanswerable: bool) -> PublicDataset:
    corpus, examples = _Corpus("pubmed", path, "pubmedqa"), []
    for pmid, record in data.items():
        where = f"{path}: {pmid}"
        contexts = [c for c in _need(record, "CONTEXTS", list, where) if isinstance(c, str) and c.strip()]
        decision = _need(record, "final_decision", str, where).strip().lower()
        doc_id = corpus.add("", "\n\n".join(c.strip() for c in contexts), slug(str(pmid)), key=pmid)
        examples.append(QAExample(
            f"pubmed-{pmid}", _need(record, "QUESTION", str, where).strip(), [decision], "classification",
            [doc_id], metadata={"long_answer": record.get("LONG_ANSWER", "")}, origin=where))
    return corpus.dataset(examples, [])


def _hotpotqa(data: list, lines: list[int] | None, path: Path, keep_unanswerable: bool) -> PublicDataset:
    corpus, examples, bad_facts = _Corpus("hotpot", path, "hotpotqa"), [], 0
    for i, record in enumerate(data):
        where = _where(path, lines, i, record.get("_id") if isinstance(record, dict) else None)
        sentences, doc_ids = {}, {}
        for pair in _need(record, "context", list, where):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], list)):
                raise FormatError(f"{where}: a 'context' entry is not [title, [sentences]]")
            title, sents = str(pair[0]), [str(s) for s in pair[1]]
            sentences[title], doc_ids[title] = sents, corpus.add(title, "".join(sents).strip())
        evidence_ids, evidence = [], []
        for fact in _need(record, "supporting_facts", list, where):
            title, index = (fact + [None, None])[:2] if isinstance(fact, list) else (None, None)
            if title not in doc_ids or not isinstance(index, int) or not 0 <= index < len(sentences[title]):
                bad_facts += 1  # HotpotQA has a few facts pointing past the paragraph: keep the rest
                continue
            evidence_ids.append(doc_ids[title])
            evidence.append(sentences[title][index])
        answer = str(_need(record, "answer", (str, int), where))
        examples.append(QAExample(
            str(_need(record, "_id", (str, int), where)), _need(record, "question", str, where).strip(), [answer],
            "multi_hop", _unique(evidence_ids), _unique(evidence),
            metadata={k: record[k] for k in ("type", "level") if k in record}, origin=where))
    notes = [f"{path}: ignored {bad_facts} supporting facts naming no sentence of the context"] if bad_facts else []
    return corpus.dataset(examples, notes)


def _musique(data: list, lines: list[int] | None, path: Path, keep_unanswerable: bool) -> PublicDataset:
    corpus, examples, skipped = _Corpus("musique", path, "musique"), [], 0
    for i, record in enumerate(data):
        where = _where(path, lines, i, record.get("id") if isinstance(record, dict) else None)
        evidence_ids, evidence = [], []
        for paragraph in _need(record, "paragraphs", list, where):
            title = str(paragraph.get("title", "")) if isinstance(paragraph, dict) else ""
            text = _need(paragraph, "paragraph_text", str, f"{where}: a paragraph").strip()
            doc_id = corpus.add(title, text)
            if paragraph.get("is_supporting"):
                evidence_ids.append(doc_id)
                evidence.append(text)
        qid, question = str(_need(record, "id", (str, int), where)), _need(record, "question", str, where).strip()
        if record.get("answerable", True) is False:
            skipped += not keep_unanswerable
            if keep_unanswerable:
                examples.append(QAExample(qid, question, [NOT_FOUND], "multi_hop",
                                          metadata={"unanswerable": True}, origin=where))
            continue
        answers = _unique([str(_need(record, "answer", (str, int), where))] + [str(a) for a in record.get("answer_aliases") or []])
        examples.append(QAExample(qid, question, answers, "multi_hop", _unique(evidence_ids), _unique(evidence),
                                  origin=where))
    notes = [f"{path}: skipped {skipped} unanswerable questions (unanswerable: skip)"] if skipped else []
    return corpus.dataset(examples, notes)


def _beir(folder: Path, split: str) -> PublicDataset:
    corpus, notes = _Corpus("beir", folder, "beir"), []
    if not (folder / "corpus.jsonl").is_file():
        raise FormatError(f"{folder}: no corpus.jsonl — a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/")
    by_source_id = {}
    for where, record in _jsonl(folder / "corpus.jsonl"):
        source_id = str(_need(record, "_id", (str, int), where))
        body = _need(record, "text", str, where).strip()
        by_source_id[source_id] = corpus.add(str(record.get("title") or ""), body, slug(source_id), key=source_id)
    queries = {str(_need(r, "_id", (str, int), w)): (_need(r, "text", str, w).strip(), w)
               for w, r in _jsonl(folder / "queries.jsonl")}
    relevance, unknown = _qrels(folder, split, by_source_id)
    if unknown:
        notes.append(f"{folder}/qrels/{split}.tsv: ignored {unknown} judgements naming documents not in corpus.jsonl")
    examples = []
    for qid, (question, where) in queries.items():
        judged = relevance.get(qid)
        if not judged:
            continue
        best = max(judged, key=judged.get)
        examples.append(QAExample(qid, question, [corpus.documents[best].text], "long_form", list(judged),
                                  metadata={"relevance": judged}, origin=where))
    return corpus.dataset(examples, notes)


def _jsonl(path: Path) -> list[tuple[str, Any]]:
    records, lines = _parse(path)
    return [(f"{path}: line {n}", record) for n, record in zip(lines or [], records)]


def _qrels(folder: Path, split: str, by_source_id: dict[str, str]) -> tuple[dict[str, dict[str, int]], int]:
    """query id → {doc id: relevance ≥ 1}, and how many judgements name unknown documents."""
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise FormatError(f"{path}: not found — choose qrels: one of {', '.join(found) or '(none: add qrels/test.tsv)'}")
    relevance: dict[str, dict[str, int]] = {}
    unknown = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for n, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if n == 1 and row and not row[-1].strip().lstrip("-").isdigit():
                continue  # the "query-id corpus-id score" header
            if len(row) < 3 or not row[-1].strip().lstrip("-").isdigit():
                raise FormatError(f"{path}: line {n}: expected 'query-id<TAB>corpus-id<TAB>score', got {row!r}")
            query, doc, score = row[0].strip(), row[-2].strip(), int(row[-1])
            if score < 1:
                continue
            if doc not in by_source_id:
                unknown += 1
                continue
            relevance.setdefault(query, {})[by_source_id[doc]] = score
    return relevance, unknown

