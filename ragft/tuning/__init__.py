"""Fine-tuning: training data builders, TRL trainers (SFT/RAFT, DPO, ORPO) and the model registry.

- ``data``: chat examples from gold QA (closed-book SFT) and RAFT examples (oracle + hard-negative
  distractors, quoted evidence), preference pairs, test-set hygiene, data hashes.
- ``synthetic``: question–answer pairs from the corpus, by an LLM or an offline template fallback.
- ``sft`` / ``preference``: one pydantic config and one self-contained function per method;
  checkpoints resume after an interruption; the result is a merged model in the registry.
- ``registry``: versions with lineage, scores and status (candidate / current / rejected).
- ``embedder``: the retriever's embedder fine-tuned on question → evidence-chunk pairs (MNRL).
- ``improve``: the feedback loop (``ragft improve``): new feedback → pairs → DPO or SFT on edits →
  paired comparison with the current version → promote only when significantly better.

TRL, PEFT and datasets are imported only when a trainer runs, so importing this package is cheap.
"""

from ragft.tuning.common import TrainingInterrupted, stop_after_steps
from ragft.tuning.data import (
    ChatExample, RaftOptions, check_no_test_overlap, check_preferences, closed_book_messages, load_preferences,
    preference_prompt, raft_examples, save_preferences, sft_examples,
)
# Not the ``improve`` function itself: it would shadow the submodule (``import ragft.tuning.improve``).
from ragft.tuning.improve import Decision, ImproveOptions, ImproveResult, decide
from ragft.tuning.preference import DPOTrainConfig, ORPOTrainConfig, train_dpo, train_orpo
from ragft.tuning.registry import ModelRegistry, ModelVersion, registry_for, resolve_llm_config, resolve_model
from ragft.tuning.sft import SFTTrainConfig, train_sft
from ragft.tuning.synthetic import SyntheticOptions, SyntheticReport, synthetic_qa

__all__ = [
    "ChatExample", "DPOTrainConfig", "Decision", "ImproveOptions", "ImproveResult", "ModelRegistry", "ModelVersion",
    "ORPOTrainConfig", "RaftOptions", "SFTTrainConfig", "SyntheticOptions", "SyntheticReport", "TrainingInterrupted",
    "check_no_test_overlap", "check_preferences", "closed_book_messages", "decide", "load_preferences",
    "preference_prompt",
    "raft_examples", "registry_for", "resolve_llm_config", "resolve_model", "save_preferences", "sft_examples",
    "stop_after_steps", "synthetic_qa", "train_dpo", "train_orpo", "train_sft",
]
