"""Training a candidate from the incumbent, and the test-set hygiene over a model's lineage."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragft.errors import ConfigError, RagftError
from ragft.improve.options import ImproveOptions
from ragft.models.registry import (
    REGISTRY_PREFIX,
    ModelRegistry,
    ModelVersion,
    is_registry_model,
)
from ragft.tuning.data import ChatExample, check_no_test_overlap, preference_prompt
from ragft.types import Preference, QAExample


def train_candidate(pairs: list[Preference], incumbent: str, registry: ModelRegistry, options: ImproveOptions,
                    test: list[QAExample], say: Callable[[str], None]) -> ModelVersion:
    """A candidate from the incumbent by ``options.method`` (a row of ``ragft.tuning.methods``): a
    preference method on the pairs, or SFT on the chosen answers (the edits); the trainers refuse
    test-set leaks themselves."""
    from ragft.tuning.methods import make_config, method

    row = method(options.method)
    test_questions = [q.question for q in test]
    check_no_test_overlap([p.question for p in pairs], test_questions)  # before anything is loaded
    config = make_config(options.method, options.config_file, {"base_model": incumbent, **options.train})
    say(f"training a {options.method} candidate from {incumbent} on {len(pairs)} pair(s)")
    examples = pairs if row.data == "preferences" else [
        ChatExample(preference_prompt(p), p.chosen, p.question, {"kind": "edit"}) for p in pairs]
    version = row.train(examples, config, registry, test_questions=test_questions)
    m = version.metrics
    say(f"trained {version.name}: {m.get('steps')} steps in {m.get('seconds')} s, loss {m.get('first_loss')} → "
        f"{m.get('final_loss')}")
    return version


def check_lineage_hygiene(registry: ModelRegistry, models: Sequence[str], test: list[QAExample]) -> None:
    """Refuse test questions that any registry model in ``models`` (or its ancestors) trained on."""
    versions = {v.name: v for v in registry.list()}
    trained: list[str] = []
    for model in models:
        name = model.removeprefix(REGISTRY_PREFIX) if is_registry_model(model) else None
        seen: set[str] = set()
        while name in versions and name not in seen:  # a corrupt parent cycle must not loop forever
            seen.add(name)
            trained += versions[name].train_questions
            name = versions[name].parent
    try:
        check_no_test_overlap(list(dict.fromkeys(trained)), [q.question for q in test])
    except RagftError as err:
        raise ConfigError(f"the test set overlaps questions the models were trained on — {err}") from None
