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
