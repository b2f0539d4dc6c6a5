"""The local transformers backend with the built-in SmolLM2-135M (real weights, CPU)."""

from __future__ import annotations

from ragft.models.builtin import converted_llm_dir


def test_builtin_model_is_converted_once_to_safetensors(small_llm):
    folder = converted_llm_dir("builtin:smollm2-135m")
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert not list(folder.parent.glob("smollm2-135m.tmp-*")), "no half-written conversion left behind"


def test_uses_the_models_own_chat_template(small_llm):
    prompt = small_llm.render([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
    assert prompt == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"


def test_batched_generation_keeps_order_and_counts_tokens(small_llm):
    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "user", "content": "Name a colour of the sky on a clear day, in one word."}],
        [{"role": "user", "content": "What is the capital of France?"}],
    ]
    results = small_llm.generate(conversations, max_new_tokens=16)
    assert "Paris" in results[0].text and "Paris" in results[2].text
    assert "Paris" not in results[1].text
    # Same prompt, greedy decoding: the same answer wherever it sits in the (padded) batch.
    assert results[0].text == results[2].text
    for result in results:
        assert 0 < result.completion_tokens <= 16
        assert result.prompt_tokens == small_llm.count_tokens(small_llm.render(conversations[0])) or result is results[1]
        assert result.latency_s > 0


def test_a_follower_hears_of_each_row_as_it_ends_and_answers_do_not_change(small_llm):
    from ragft.models.progress import on_generated

    questions = ("Say hi.", "What is 2+2? Answer with a number.", "Name a colour.", "Count from one to twenty.")
    conversations = [[{"role": "user", "content": q}] for q in questions]
    heard: list[int] = []
    with on_generated(heard.append):
        followed = small_llm.generate(conversations, max_new_tokens=40)
    assert sum(heard) == 4 and len(heard) >= 2  # rows reported as they end, not once for the batch
    assert [g.text for g in followed] == [g.text for g in small_llm.generate(conversations, max_new_tokens=40)]


def test_prompts_prefilled_alone_decode_as_each_would_alone(small_llm):
    """The CPU path (``ragft.models.decoding``): prompts of very different lengths, each read alone
    into one left-padded cache, then decoded together — the same greedy answers and token counts
    as generating each prompt by itself, and as one padded batch."""
    import copy

    from ragft.config import LLMConfig
    from ragft.models.llm import TransformersLLM

    model = copy.deepcopy(small_llm.model).float()  # fp32: the shared fixture stays as it is
    facts = " ".join(f"Route R{i} sails every {i + 1} hours." for i in range(40))
    conversations = [
        [{"role": "user", "content": "What is 2+2? Answer with a number."}],
        [{"role": "system", "content": facts}, {"role": "user", "content": "How often does route R7 sail?"}],
        [{"role": "user", "content": "Name a colour of the sky on a clear day, in one word."}],
        [{"role": "system", "content": facts[:400]}, {"role": "user", "content": "How often does route R3 sail?"}],
    ]

    def llm(prefill: str, batch_size: int) -> TransformersLLM:
        config = LLMConfig(max_new_tokens=12, batch_size=batch_size, dtype="float32", prefill=prefill)
        return TransformersLLM(config, model=model, tokenizer=small_llm.tokenizer)

    together = llm("per_prompt", 4)
    assert together._per_prompt_prefill(4)
    alone = [llm("per_prompt", 1).generate([c])[0] for c in conversations]  # batch of one: no cache tricks
    batched = together.generate(conversations)
    padded = llm("padded", 4).generate(conversations)
    assert [g.text for g in batched] == [g.text for g in alone] == [g.text for g in padded]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in alone]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in alone]
    assert len({g.prompt_tokens for g in batched}) == 4 and max(g.prompt_tokens for g in batched) > 400


def test_threads_setting(monkeypatch):
    import pytest

    from ragft.errors import ConfigError
    from ragft.models.threads import resolve_threads

    monkeypatch.delenv("RAGFT_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads("auto") == 1 and resolve_threads(2) == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve_threads("auto") >= 1
    monkeypatch.setenv("RAGFT_THREADS", "3")
    assert resolve_threads("auto") == 3 and resolve_threads(1) == 3
    monkeypatch.setenv("RAGFT_THREADS", "many")
    with pytest.raises(ConfigError, match=r"^RAGFT_THREADS='many' — give a number of threads \(1 or more\) or auto$"):
        resolve_threads("auto")


def test_threads_config_is_checked_in_one_line(tmp_path):
    import pytest

    from ragft.config import WorkspaceConfig, load_yaml_model
    from ragft.errors import ConfigError

    (tmp_path / "ragft.yaml").write_text("threads: 0\n")
    with pytest.raises(ConfigError, match=r"ragft.yaml: threads: 0 — give a number of threads \(1 or more\) or auto"):
        load_yaml_model(tmp_path / "ragft.yaml", WorkspaceConfig)
    (tmp_path / "ragft.yaml").write_text("threads: '2'\n")
    assert load_yaml_model(tmp_path / "ragft.yaml", WorkspaceConfig).threads == 2
    assert WorkspaceConfig().threads == "auto"
