"""Fine-tuning: training data builders and TRL trainers (SFT/RAFT, DPO, ORPO).

- ``data``: chat examples from gold QA (closed-book SFT) and RAFT examples (oracle + hard-negative
  distractors, quoted evidence), preference pairs, test-set hygiene, data hashes.
- ``synthetic``: question–answer pairs from the corpus, by an LLM or an offline template fallback.
- ``sft`` / ``preference``: one pydantic config and one self-contained function per method;
  checkpoints resume after an interruption; the result is a merged model in the model registry
  (``ragft.models.registry``: versions with lineage, scores and status).
- ``embedder``: the retriever's embedder fine-tuned on question → evidence-chunk pairs (MNRL).
- ``study_train``: the fine-tuned variants a study asks for, trained before it runs.

The feedback loop (``ragft improve``) sits above this package, in ``ragft.improve``.

TRL, PEFT and datasets are imported only when a trainer runs, so importing this package is cheap.
"""

from ragft.tuning.common import TrainingInterrupted, stop_after_steps
from ragft.tuning.data import (
    ChatExample, RaftOptions, check_no_test_overlap, check_preferences, closed_book_messages, load_preferences,
    preference_prompt, raft_examples, save_preferences, sft_examples,
)
from ragft.tuning.preference import DPOTrainConfig, ORPOTrainConfig, train_dpo, train_orpo
from ragft.tuning.sft import SFTTrainConfig, train_sft
from ragft.tuning.synthetic import SyntheticOptions, SyntheticReport, synthetic_qa

__all__ = [
    "ChatExample", "DPOTrainConfig", "ORPOTrainConfig", "RaftOptions", "SFTTrainConfig", "SyntheticOptions",
    "SyntheticReport", "TrainingInterrupted",
    "check_no_test_overlap", "check_preferences", "closed_book_messages", "load_preferences",
    "preference_prompt", "raft_examples", "save_preferences", "sft_examples",
    "stop_after_steps", "synthetic_qa", "train_dpo", "train_orpo", "train_sft",
]
