"""The study: every variant answers every test question; records are cached and resumable.

Layout of a run folder (``output_dir``, default ``runs/<name>``)::

    indexes/<chunker-hash>/     one workspace per chunker configuration (incrementally updated)
    records/<variant>-<key>.jsonl  one JSON record per answered question, appended batch by batch
    cache/                      what pipeline steps build once (sentence indexes, knowledge graphs, …)
    embedders/, models/         fine-tuned embedders and the model registry (``ragft.models.registry``),
                                when the study trains (``ragft.study.finetuned``, ``ragft.tuning.study_train``)
    graphs/<fingerprint>.graphml, .json   the knowledge graphs ``graph`` steps used (``ragft.study.graphs``)
    results.json, questions.csv, report.html   written by ``ragft.study.results`` / ``report``

A variant's ``key`` hashes everything that determines its answers (its recipe, the models'
configs, the embedder, the chunker and the corpus content). Records are reused when the key and
the question text match, so re-running after changing one variant recomputes only that one,
and an interrupted run resumes from the last saved batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ragft.config import ChunkerConfig, EmbedderConfig, LLMConfig
from ragft.corpus import load_folder
from ragft.corpus.checks import degenerate_answer_warnings, say_warnings, unknown_document_warnings, where
from ragft.corpus.public_formats import load_corpus
from ragft.errors import ConfigError, RagftError
from ragft.study.baselines import majority_label_counts, study_labels
from ragft.corpus.datasets import load_dataset
from ragft.metrics.evidence import EvidenceSpan, locate_all
from ragft.metrics.hygiene import assert_no_overlap
from ragft.study.records import (
    RECORD_FORMAT,
)
from ragft.study.answering import answer_questions
from ragft.study.finetuned import FineTunedModels
from ragft.study.progress import StudyProgress
from ragft.study.study_config import StudyConfig, VariantConfig
from ragft.rag.variant import RETRIEVING_TYPES, USES_LLM, AnswerResources, VariantSpec
from ragft.rag.pipeline import ClosedBook
from ragft.rag.tasks import DEFAULT_LABELS
from ragft.index.store import HybridIndex
from ragft.models import load_embedder, load_llm
from ragft.models.threads import apply_threads
from ragft.models.registry import is_registry_model, resolve_llm_config
from ragft.persist import content_hash
from ragft.types import Document, QAExample
from ragft.workspace import Workspace, index_key, ingest

STEPS_USING_TRAIN = {"example_queries"}  # their answers depend on the training set's content


@dataclass
class StudyRun:
    """Everything the scoring and report stages need from a finished run."""

    config: StudyConfig
    output_dir: Path
    questions: list[QAExample]
    records: dict[str, list[dict]]  # variant name -> records in question order
    evidence: dict[str, list[EvidenceSpan]]  # qid -> gold spans in the corpus
    index_seconds: dict[str, float] = field(default_factory=dict)  # variant -> build time of its index
    train_size: int = 0
    training: dict[str, dict] = field(default_factory=dict)  # variant -> its model's training seconds, tokens
    labels: tuple[str, ...] = DEFAULT_LABELS  # what classification questions may answer
    label_counts: dict[str, int] = field(default_factory=dict)  # gold labels the majority reference learns from
    label_source: str = ""  # "train" or "test" (the latter is optimistic: it peeks at the test labels)
    corpus: str = ""  # what was indexed (the config's corpus, or the workspace's)
    specs: dict[str, VariantSpec] = field(default_factory=dict)  # variant name -> what was scored
    phases: dict[str, float] = field(default_factory=dict)  # phase -> wall seconds, in run order


class StudyRunner:
    def __init__(self, config: StudyConfig, output_dir: Path | None = None, console: Console | None = None,
                 workspace: Workspace | None = None):
        # A copy: the run adds references and fine-tuned models to it; the caller's config stays as given.
        self.config = config = config.model_copy(deep=True)
        self.workspace = workspace  # a study on a workspace reads its corpus, index and registry, and runs there
        default_dir = workspace.runs_dir / config.name if workspace else Path("runs") / config.name
        self.output_dir = Path(output_dir or config.output_dir or default_dir)
        self.corpus = study_corpus(config, workspace)
        self.console = console or Console(stderr=True)
        apply_threads(config.threads)
        self.finetuned = FineTunedModels(config, self.output_dir, self.console, workspace, self.train_examples,
                                         self.train_documents)
        self._embedder = None
        self._tuned_embedder_models: dict = {}
        self._llms: dict[str, object] = {}  # by the resolved config's hash
        self._indexes: dict[str, tuple[HybridIndex, float]] = {}
        self._documents = None
        self._train: list[QAExample] | None = None

    # ------------------------------------------------------------------ resources
    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = load_embedder(self.config.embedder)
        return self._embedder

    def embedder_for(self, name: str | None):
        """The study's embedder (``None``) or a fine-tuned one from ``finetune_embedders``."""
        if name is None:
            return self.embedder
        if name not in self._tuned_embedder_models:
            self._tuned_embedder_models[name] = load_embedder(self.embedder_config(name))
        return self._tuned_embedder_models[name]

    def embedder_config(self, name: str | None) -> EmbedderConfig:
        """The study's embedder config (``None``) or a fine-tuned one's (trained on first use)."""
        return self.config.embedder if name is None else self.finetuned.embedder_config(name)

    def train_documents(self) -> dict[str, Document]:
        """The documents the train questions are about: the corpus, plus CUAD's contracts when the
        train set comes from there (Energous's study indexes one contract, but learns from the others)."""
        documents = {d.doc_id: d for d in self.documents().documents}
        train = self.config.train
        if train is not None and train.kind in ("cuad", "kdd_lab") and train.cuad_dir:
            for document in load_folder(Path(train.cuad_dir) / "contracts").documents:
                documents.setdefault(document.doc_id, document)
        return documents

    def llm(self, name: str):
        return self.llm_for(self.config.models[name])

    def llm_for(self, config: LLMConfig):
        """A generator by its config (``registry:NAME`` resolved), loaded once per run."""
        resolved = resolve_llm_config(config, self.registry) if is_registry_model(config.model) else config
        key = content_hash(resolved.model_dump(mode="json"))
        if key not in self._llms:
            self.console.print(f"loading model [bold]{config.model}[/]")
            self._llms[key] = load_llm(resolved, progress=True)
        return self._llms[key]

    def embedder_by_config(self, config: EmbedderConfig):
        """The study's embedder or one it fine-tuned, by config (as a VariantSpec names it)."""
        if config == self.config.embedder:
            return self.embedder
        name = self.finetuned.embedder_named(config)
        if name is not None:
            return self.embedder_for(name)
        raise ConfigError(f"embedder {config.model} is neither the study's nor one it fine-tuned")

    # ------------------------------------------------------------------ fine-tuned models (registry)
    @property
    def registry(self):
        """The model registry named by ``registry:`` in the config (None when there is none)."""
        return self.finetuned.registry

    def _prepare_finetuned(self, questions: list[QAExample]) -> None:
        """Train (or reuse) the models listed under ``finetune`` and add them to this run's ``models``."""
        if self.config.finetune:
            from ragft.tuning.study_train import TrainingInputs, prepare_finetuned_models

            inputs = TrainingInputs(registry=self.registry, train=self.train_examples(), test=questions,
                                    index=lambda: self.index_for_chunker(self.config.chunker),
                                    answers=self._closed_book_answers, say=self.console.print)
            self.config.models.update(prepare_finetuned_models(self.config.finetune, self.config.models, inputs))

    def _closed_book_answers(self, llm: LLMConfig, questions: list[QAExample]) -> list[str]:
        """A model's own closed-book answers (what preference training prefers the gold answers to)."""
        answerer = ClosedBook(self.llm_for(llm), max_new_tokens=llm.max_new_tokens)
        size = self.config.batch_size
        return [a.text for start in range(0, len(questions), size)
                for a in answerer.answer_batch([q.question for q in questions[start:start + size]])]

    def model_version(self, name: str):
        """The registry version behind a model key, else None (see ``FineTunedModels``)."""
        return self.finetuned.model_version(name)

    def model_config(self, name: str):
        """The model's config with ``registry:NAME`` replaced by the version's model folder."""
        return self.finetuned.model_config(name)

    def record_registry_scores(self, results: dict) -> None:
        """Write each registry-backed variant's mean scores into its version."""
        self.finetuned.record_scores(results)

    def documents(self):
        """The corpus: a folder of documents, or the documents of a public dataset file/BEIR folder."""
        if self._documents is None:
            report = load_corpus(Path(self.corpus))
            if not report.documents:
                raise RagftError(f"{self.corpus}: no loadable documents — {report.summary()}")
            if report.skipped:
                self.console.print(f"[yellow]{report.summary()}[/]")
            self._documents = report
        return self._documents

    def train_examples(self) -> list[QAExample]:
        """The training questions (loaded once); empty when the study has no ``train`` set."""
        if self._train is None:
            self._train = load_dataset(self.config.train, self.warn) if self.config.train else []
            if self._train:
                self.check_questions(self._train, self.train_documents())
        return self._train

    # ------------------------------------------------------------------ input checks
    def warn(self, line: str) -> None:
        """One warning line (the text is printed as is, never read as rich markup)."""
        self.console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)

    def check_questions(self, questions: list[QAExample], documents) -> None:
        """Warn (not fail) about gold evidence naming unknown documents and degenerate gold answers;
        each line cites the question's file and line, which also tells the test set from the train set."""
        doc_ids = documents.keys() if isinstance(documents, dict) else [d.doc_id for d in documents]
        say_warnings(unknown_document_warnings(questions, doc_ids), self.warn)
        say_warnings(degenerate_answer_warnings(questions), self.warn)

    def index_for(self, variant: VariantConfig) -> HybridIndex:
        return self.index_for_chunker(variant.chunker or self.config.chunker, self.embedder_config(variant.embedder))

    def index_for_chunker(self, chunker: ChunkerConfig, embedder: EmbedderConfig | None = None) -> HybridIndex:
        """The corpus indexed with this chunker and embedder (built once per run, updated incrementally
        on disk): in the workspace when the study runs on one — its own index for its own settings —
        else under the run folder's ``indexes/``."""
        embedder = embedder or self.config.embedder
        key = index_key(chunker, embedder)
        if key not in self._indexes:
            holder = (self.workspace.for_index(chunker, embedder) if self.workspace is not None
                      else Workspace(self.output_dir / "indexes" / key))
            config = holder.load_config().model_copy(update={"embedder": embedder, "chunker": chunker})
            started = time.perf_counter()
            self.console.print(f"indexing {self.corpus} ({chunker.kind} chunks, index {holder.index_dir})")
            with StudyProgress(self.console) as progress:  # loading, chunking, embedding: minutes on a big corpus
                _, stats = ingest(holder, Path(self.corpus), config, self.embedder_by_config(embedder),
                                  on_progress=progress.stages())
            # The cost of building this index from scratch (embedding dominates it) — a rebuild
            # that reused cached vectors would understate it, so take the larger of the two.
            build_seconds = max(time.perf_counter() - started, stats.seconds)
            self._indexes[key] = (holder.load_index(self.embedder_by_config(embedder)), build_seconds)
        return self._indexes[key][0]

    def index_seconds(self, variant: VariantConfig) -> float:
        """Build time of the variant's index (building it first if no answer needed it)."""
        self.index_for(variant)
        embedder = self.embedder_config(variant.embedder)
        return self._indexes[index_key(variant.chunker or self.config.chunker, embedder)][1]

    def corpus_fingerprint(self) -> str:
        docs = self.documents().documents
        return content_hash(sorted((d.doc_id, d.metadata.get("content_sha256", "")) for d in docs))

    # ------------------------------------------------------------------ the run
    def run(self) -> StudyRun:
        phases: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(phase: str) -> None:
            nonlocal clock
            phases[phase] = round(time.perf_counter() - clock, 1)
            clock = time.perf_counter()

        questions = load_dataset(self.config.test, self.warn)
        self.check_questions(questions, self.documents().documents)
        self._add_references()
        lap("corpus and questions")
        self._prepare_finetuned(questions)
        lap("fine-tuning")
        train_size = self._check_hygiene(questions)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        fingerprint = self.corpus_fingerprint()
        texts = {d.doc_id: d.text for d in self.documents().documents}
        evidence = {q.qid: locate_all(texts, q.evidence_doc_ids, q.evidence_texts) for q in questions}
        resources = AnswerResources(embedder_for=self.embedder_by_config, llm_for=self.llm_for,
                                    index_for=self.index_for_chunker, documents=lambda: self.documents().documents,
                                    train_examples=self.train_examples, cache_dir=self.output_dir / "cache")

        records, index_seconds = {}, {}
        for variant in self.config.variants:
            records[variant.name] = self._run_variant(variant, questions, fingerprint, resources)
            if variant.type in RETRIEVING_TYPES:
                index_seconds[variant.name] = self.index_seconds(variant)
            lap(f"answering: {variant.name}")  # the first retrieving variant includes the index build
        counts, source = self.label_counts(questions)
        return StudyRun(self.config, self.output_dir, questions, records, evidence, index_seconds, train_size,
                        self.finetuned.training_costs(), self.labels(questions), counts, source, self.corpus,
                        {v.name: self.spec_for(v) for v in self.config.variants}, phases)

    # ------------------------------------------------------------------ task-aware answering
    def _add_references(self) -> None:
        """Add the trivial references a verdict needs when the config lacks them: closed-book
        (when any variant generates) and the extractive reader (when any variant retrieves)."""
        from ragft.study.baselines import missing_references

        for reference in missing_references(self.config):
            self.console.print(f"adding reference variant [bold]{reference.name}[/] ({reference.description}); "
                               "set add_references: false to leave it out")
            self.config.variants.append(reference)

    def labels(self, questions: list[QAExample]) -> tuple[str, ...]:
        return study_labels(self.config.labels, [*questions, *self.train_examples()])

    def label_counts(self, questions: list[QAExample]) -> tuple[dict[str, int], str]:
        return majority_label_counts(self.train_examples(), questions)

    def judge(self, run: StudyRun):
        """LLM-as-judge verdicts for every variant, or None when the study configures no judge."""
        if self.config.judge is None:
            return None
        from ragft.study.judge import Judge, JudgeOutcome

        name = self.config.judge.llm
        fingerprint = content_hash(self.config.models[name].model_dump(exclude={"batch_size", "timeout_s", "max_retries"}))
        judge = Judge(self.llm(name), fingerprint, self.config.judge.repeats,
                      self.output_dir / "records" / "judge-cache.jsonl")
        outcome = JudgeOutcome()
        for variant in self.config.variants:
            self.console.print(f"judging {variant.name} ({self.config.judge.repeats}× with {name})")
            outcome.scores[variant.name], outcome.repeat_means[variant.name] = judge.judge_variant(
                run.questions, run.records[variant.name], variant.type in RETRIEVING_TYPES)
        return outcome

    def _check_hygiene(self, questions: list[QAExample]) -> int:
        """Refuse a test set that overlaps the training set (exact or near-duplicate questions).

        Questions are compared within the same document scope: CUAD asks the same templated
        question of every contract, and a split by contract is no leak.
        """
        self.finetuned.check_hygiene(questions)
        if self.config.train is None:
            return 0
        train = self.train_examples()
        for scope in sorted({q.doc_scope or "" for q in questions}):
            train_part = [q for q in train if (q.doc_scope or "") == scope]
            test_part = [q for q in questions if (q.doc_scope or "") == scope]
            assert_no_overlap([q.question for q in train_part], [q.question for q in test_part], what="questions",
                              train_where=[where(q) for q in train_part], test_where=[where(q) for q in test_part])
        return len(train)

    def spec_for(self, variant: VariantConfig) -> VariantSpec:
        """The variant with every study-local name resolved: what is scored, saved and deployed."""
        llm, model_version = None, None
        if variant.type in USES_LLM:
            llm = self.config.models[variant.llm]
            version = self.model_version(variant.llm)
            model_version = version.identity if version else None
        return VariantSpec(name=variant.name, type=variant.type, llm=llm, model_version=model_version,
                           embedder=self.embedder_config(variant.embedder),
                           chunker=variant.chunker or self.config.chunker, retrieval=variant.retrieval,
                           pipeline=variant.pipeline, system_prompt=variant.system_prompt,
                           max_new_tokens=variant.max_new_tokens, description=variant.description)

    def variant_key(self, variant: VariantConfig, fingerprint: str) -> str:
        """The spec's identity plus what the study adds: the corpus, and the training set for steps that read it."""
        recipe = {"spec": self.spec_for(variant).identity(), "format": RECORD_FORMAT, "corpus": fingerprint}
        if any(step.name in STEPS_USING_TRAIN for step in variant.pipeline):
            recipe["train"] = content_hash([(q.question, q.answers, q.evidence_texts) for q in self.train_examples()])
        return content_hash(recipe)[:12]

    def _run_variant(self, variant: VariantConfig, questions: list[QAExample], fingerprint: str,
                     resources: AnswerResources) -> list[dict]:
        path = self.output_dir / "records" / f"{variant.name}-{self.variant_key(variant, fingerprint)}.jsonl"
        return answer_questions(self.spec_for(variant), questions, resources, path, self.labels(questions),
                                self.config.batch_size, self.console)


def study_corpus(config: StudyConfig, workspace: Workspace | None) -> str:
    """The corpus a study reads: its ``corpus:``, else its workspace's (the folder last ingested)."""
    ingested = workspace.load_config().corpus if workspace is not None else None
    if config.corpus and ingested and Path(config.corpus).resolve() != Path(ingested).resolve():
        raise ConfigError(f"the study's corpus {config.corpus} is not the workspace's ({ingested}) — leave "
                          "'corpus:' out to study the workspace's documents, or use another --workspace")
    corpus = config.corpus or ingested
    if not corpus:
        raise ConfigError("the study names no corpus — set 'corpus: PATH' in the config, or give --workspace "
                          "with documents ingested (`ragft ingest PATH --workspace WS`)")
    return corpus
