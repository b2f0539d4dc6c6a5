"""Fine-tuning the retriever's embedder on labelled questions — the retriever's analogue of RAFT.

A general-purpose embedder ranks a contract's chunks by topical similarity to the question; it
has never learnt that "What is the notice period to terminate renewal?" is answered by the clause
that says "unless either party gives 90 days' written notice". Labelled training questions teach
it exactly that: each becomes a pair (question → the chunk that holds most of its gold evidence)
with a hard negative (a chunk of the *same* document that holds none of it), trained with
sentence-transformers' ``MultipleNegativesRankingLoss`` (in-batch negatives plus the hard one).

    pairs = retrieval_pairs(train_questions, documents, make_chunker("fixed", size=1024, overlap=256))
    path, info = finetune_embedder(pairs, EmbedderTrainConfig(), cache_root=Path("runs/x/embedders"))
    EmbedderConfig(model=str(path))   # a sentence-transformers folder, loadable offline

The result is cached under ``cache_root`` by the hash of the pairs and the settings, and written
to a temporary folder renamed into place, so an interrupted training never leaves a model that a
later run would trust (training takes minutes on a CPU; an interrupted one starts again).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ragft.config import BUILTIN_EMBEDDER
from ragft.errors import ConfigError
from ragft.metrics.evidence import coverage, locate_all
from ragft.tuning.data import data_sha256
from ragft.types import Document, Hit, QAExample

INFO_FILE = "ragft-training.json"  # written last: a folder without it is not a finished model


class EmbedderTrainConfig(BaseModel):
    """How the embedder is trained (the defaults take ~15 minutes for ~1,300 pairs on 2 CPU cores)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = BUILTIN_EMBEDDER
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(32, ge=2)  # in-batch negatives: larger is better, memory permitting
    learning_rate: float = Field(2e-5, gt=0)
    warmup: float = Field(0.1, ge=0, lt=1)  # share of the steps
    max_seq_length: int = Field(256, ge=16)  # a 1024-character chunk is ~230 tokens
    hard_negatives: bool = True  # add a same-document chunk without the evidence to every pair
    min_coverage: float = Field(0.5, gt=0, le=1)  # the positive chunk holds at least this share of the evidence
    seed: int = 0


@dataclass(frozen=True)
class RetrievalPair:
    question: str
    positive: str  # the chunk that holds the gold evidence
    negative: str | None = None  # a chunk of the same document that holds none of it


def retrieval_pairs(examples: list[QAExample], documents: dict[str, Document], chunker,
                    min_coverage: float = 0.5, seed: int = 0) -> list[RetrievalPair]:
    """One pair per question whose gold evidence can be located in a chunk of its document.

    Questions without evidence text, or whose evidence is not found (or is spread so that no
    chunk holds ``min_coverage`` of it), are skipped: a wrong positive would teach the wrong thing.
    """
    rng = random.Random(seed)
    chunks_by_doc: dict[str, list] = {}
    pairs = []
    for example in examples:
        doc_ids = [d for d in (example.evidence_doc_ids or ([example.doc_scope] if example.doc_scope else []))
                   if d in documents]
        spans = locate_all({d: documents[d].text for d in doc_ids}, doc_ids, example.evidence_texts)
        if not spans:
            continue
        span = spans[0]
        if span.doc_id not in chunks_by_doc:
            chunks_by_doc[span.doc_id] = chunker.chunk(documents[span.doc_id])
        chunks = chunks_by_doc[span.doc_id]
        covered = [coverage(span, [Hit(chunk, 0.0, 0)]) for chunk in chunks]
        best = max(range(len(chunks)), key=covered.__getitem__, default=None)
        if best is None or covered[best] < min_coverage:
            continue
        # Negatives hold none of *any* of the question's evidence, not just of the first span.
        evidence_free = [c for c in chunks if all(coverage(s, [Hit(c, 0.0, 0)]) == 0 for s in spans)]
        negative = rng.choice(evidence_free).text if evidence_free else None
        pairs.append(RetrievalPair(example.question, chunks[best].text, negative))
    return pairs


def finetune_embedder(pairs: list[RetrievalPair], config: EmbedderTrainConfig, cache_root: Path, *,
                      progress: bool = True) -> tuple[Path, dict]:
    """The embedder trained on ``pairs`` (reused when the same pairs and settings were trained before).

    Returns the model folder and its training record (seconds, steps, pairs, final loss). Keeping
    test questions out of the pairs is the caller's job: a study compares its train and test
    questions within each document scope (CUAD asks the same question of every contract).
    """
    if not pairs:
        raise ConfigError("embedder fine-tuning: no training pairs — the training questions need gold evidence "
                          "texts that can be found in their documents (CUAD clauses, or an 'evidence' field)")
    rows = [asdict(p) for p in pairs]
    key = data_sha256([config.model_dump(mode="json"), *rows])[:16]
    target = Path(cache_root) / f"embedder-{key}"
    if (target / INFO_FILE).exists():
        return target, json.loads((target / INFO_FILE).read_text(encoding="utf-8"))
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    info = _train(pairs, config, work, progress)
    info.update(pairs=len(pairs), data_sha256=data_sha256(rows), config=config.model_dump(mode="json"),
                train_questions=sorted({p.question for p in pairs}))
    (work / INFO_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target, info


def _train(pairs: list[RetrievalPair], config: EmbedderTrainConfig, output: Path, progress: bool) -> dict:
    # Imported here: datasets and the trainer are heavy and only needed when training runs.
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from ragft.models.builtin import resolve_embedder_path
    from ragft.models.llm import pick_device

    device = pick_device("auto")
    model = SentenceTransformer(resolve_embedder_path(config.base_model), device=device)
    model.max_seq_length = config.max_seq_length
    columns = {"anchor": [p.question for p in pairs], "positive": [p.positive for p in pairs]}
    if config.hard_negatives:
        # A pair without an evidence-free chunk (a one-chunk document) borrows another pair's positive.
        others = [p.positive for p in pairs]
        columns["negative"] = [p.negative or others[(i + 1) % len(others)] for i, p in enumerate(pairs)]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output / "checkpoints"), num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
        warmup_steps=config.warmup, seed=config.seed, save_strategy="no", report_to=[], logging_steps=5,
        # A batch must not hold the same question (or chunk) twice: it would be its own false negative.
        batch_sampler=BatchSamplers.NO_DUPLICATES, disable_tqdm=not progress, dataloader_pin_memory=device == "cuda",
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                                         loss=MultipleNegativesRankingLoss(model))
    started = time.perf_counter()
    result = trainer.train()
    seconds = round(time.perf_counter() - started, 1)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    model.save(str(output))
    return {"seconds": seconds, "steps": int(result.global_step), "final_loss": round(float(result.training_loss), 4)}
