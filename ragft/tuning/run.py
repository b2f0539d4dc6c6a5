"""``ragft train …``: from files and a workspace to a registered model version.

The CLI stays a thin shell around :func:`train_from_files`, which gathers the data (a QA file,
synthetic QA from the workspace corpus, or a preference file), the configuration (defaults, an
optional YAML file, then command-line overrides), the test questions to keep out, and calls the
method's trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragft.config import describe_validation_error
from ragft.errors import ConfigError
from ragft.tuning.common import stop_after_steps
from ragft.tuning.data import RaftOptions, load_preferences, raft_examples, sft_examples
from ragft.tuning.methods import make_config
from ragft.tuning.methods import method as method_row
from ragft.models.registry import ModelRegistry, ModelVersion
from ragft.tuning.synthetic import SyntheticOptions, synthetic_qa
from ragft.types import QAExample

def load_test_questions(paths: Sequence[Path]) -> list[str]:
    from ragft.corpus import load_qa_file

    return [q.question for path in paths for q in load_qa_file(path)]


def train_from_files(method: str, workspace: Path, *, data: Path | None = None, tests: Sequence[Path] = (),
                     config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                     raft: RaftOptions | None = None, generator: str | None = None, stop_after: int | None = None,
                     say: Callable[[str], None] = print) -> ModelVersion:
    """Train ``method`` into ``<workspace>/models`` and return the registered version."""
    spec = method_row(method)
    from ragft.workspace import Workspace

    ws = Workspace(Path(workspace))
    registry = ModelRegistry(ws.models_dir)
    overrides = dict(overrides or {})
    if overrides.get("base_model") is None:
        overrides["base_model"] = _default_base(method, ws, registry)
    config = make_config(method, config_file, overrides)
    test_questions = load_test_questions(tests)
    callbacks = [stop_after_steps(stop_after)] if stop_after else []
    say(f"training {method} from {config.base_model} ({config.peft}) → {registry.root}")
    if spec.data == "preferences":
        if data is None:
            raise ConfigError(f"{method} needs --data PREFERENCES.jsonl (question, chosen, rejected per line)")
        examples = load_preferences(data)
    else:
        qa = _qa_for_training(data, ws, generator, test_questions, say)
        if spec.data == "raft":
            index = _workspace_index(ws)
            examples = raft_examples(qa, index, raft or RaftOptions(seed=config.seed))
            say(f"RAFT: {len(examples)} examples from {len(qa)} questions "
                f"({len(qa) - len(examples)} without an oracle chunk in the index were skipped)")
        else:
            examples = sft_examples(qa)
    return spec.train(examples, config, registry, test_questions=test_questions, callbacks=callbacks)


def train_embedder_from_files(workspace: Path, *, data: Path | None, docs: Path | None, tests: Sequence[Path] = (),
                              overrides: dict[str, Any] | None = None,
                              say: Callable[[str], None] = print) -> tuple[Path, dict]:
    """``ragft train embedder``: fine-tune the workspace's embedder on questions with known evidence.

    Pairs are cut with the workspace's chunker, so the model learns the chunks it will retrieve.
    The result goes to ``<workspace>/embedders/`` (cached by pairs and settings); the workspace
    uses it once re-ingested with ``--embedder PATH``.
    """
    from ragft.corpus import load_qa_file, make_chunker
    from ragft.corpus.public_formats import load_corpus
    from ragft.tuning.data import check_no_test_overlap
    from ragft.tuning.embedder import EmbedderTrainConfig, finetune_embedder, retrieval_pairs
    from ragft.workspace import Workspace

    if data is None or docs is None:
        raise ConfigError("embedder training needs --data QA_FILE (questions with their evidence_texts) and "
                          "--docs FOLDER (the documents those questions are about)")
    ws = Workspace(Path(workspace))
    ws_config = ws.load_config()
    values = {"base_model": ws_config.embedder.model, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        config = EmbedderTrainConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(f"embedder training config: {describe_validation_error(err)}") from None
    qa = load_qa_file(data)
    tested = [q for path in tests for q in load_qa_file(path)]
    check_no_test_overlap([q.question for q in qa], [q.question for q in tested],
                          train_where=[q.origin for q in qa], test_where=[q.origin for q in tested])
    documents = {d.doc_id: d for d in load_corpus(Path(docs)).documents}  # a folder, or a public dataset's
    chunker = make_chunker(ws_config.chunker.kind, **ws_config.chunker.params)
    pairs = retrieval_pairs(qa, documents, chunker, config.min_coverage, config.seed)
    say(f"training embedder from {config.base_model}: {len(pairs)} question → evidence-chunk pairs from "
        f"{len(qa)} questions ({len(qa) - len(pairs)} without evidence found in {docs} were skipped)")
    return finetune_embedder(pairs, config, ws.embedders_dir)


def _default_base(method: str, ws, registry: ModelRegistry) -> str:
    """Preference training continues from the current version when there is one."""
    current = registry.current()
    if method in ("dpo", "orpo") and current is not None:
        return f"registry:{current.name}"
    return ws.load_config().llm.model


def _qa_for_training(data: Path | None, ws, generator: str | None, test_questions: list[str],
                     say: Callable[[str], None]) -> list[QAExample]:
    from ragft.corpus import load_qa_file

    if data is not None:
        return load_qa_file(data)
    # No QA file: synthetic questions from the workspace's own chunks.
    index = _workspace_index(ws, embed=False)
    llm = None
    if generator and generator != "template":
        from ragft.config import LLMConfig
        from ragft.models import load_llm

        llm = load_llm(LLMConfig(model=generator, max_new_tokens=160), progress=True)
    report = synthetic_qa(index.chunks, llm, test_questions, SyntheticOptions())
    say(f"synthetic QA ({generator or 'template'}): {report.summary()}")
    return report.pairs


def _workspace_index(ws, embed: bool = True):
    from ragft.models import load_embedder

    if not ws.has_index():
        raise ConfigError(f"{ws.path}: no index — run `ragft ingest PATH --workspace {ws.path}` first")
    return ws.load_index(load_embedder(ws.load_config().embedder) if embed else None)
