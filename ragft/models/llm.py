"""Generator models behind one small interface.

An ``LLM`` takes a list of chat conversations (lists of ``{"role", "content"}`` messages) and
returns one ``Generation`` per conversation, with token counts and latency, so that every
caller — a RAG pipeline, the study, a judge — batches naturally and the study can cost it.

Two backends:
- ``TransformersLLM`` runs weights locally (CPU or GPU) with batched, length-sorted generation,
  formatting prompts with the model's own chat template. On a CPU each prompt of a batch is
  prefilled alone and the batch decoded together (``ragft.models.decoding``); on a GPU one padded
  batch. LoRA versions load as base + adapter, merged (``ragft.models.weights``).
- ``OpenAICompatibleLLM`` calls any server speaking the OpenAI chat-completions API (vLLM,
  Ollama, llama.cpp server, hosted APIs); the server applies the template.

Besides ``max_new_tokens`` and ``temperature`` (the ``LLM`` protocol), both backends take
``top_p``, ``seed`` and ``stop`` (strings that end generation early; the caller cuts the text
at them — the transformers backend's text may still end with one).
"""

from __future__ import annotations

import time
from typing import Protocol

from ragft.config import LLMConfig
from ragft.errors import BackendError
from ragft.models.builtin import resolve_llm_path
from ragft.models.decoding import prefilled_cache, supports_prefilled_cache
from ragft.models.weights import load_causal_lm
from ragft.models.loops import repeat_stop, trim_repetition
from ragft.models.openai_backend import OpenAICompatibleLLM
from ragft.models.progress import generation_hook, report_generated
from ragft.types import Generation

Messages = list[dict[str, str]]


class LLM(Protocol):
    name: str

    def generate(
        self, conversations: list[Messages], max_new_tokens: int | None = None,
        temperature: float | None = None,
    ) -> list[Generation]: ...


def load_llm(config: LLMConfig, progress: bool = True) -> LLM:
    """Build the backend a config names; heavy weights load here, once."""
    if config.backend == "openai":
        return OpenAICompatibleLLM(config)
    return TransformersLLM(config, progress=progress)


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def auto_dtype(device: str):
    """bf16 on GPUs and on CPUs with native bf16 arithmetic (AVX512-BF16/AMX: prefill 1.6x
    faster than fp32 here, ``benchmarks/generation.py``), fp32 on other CPUs."""
    import torch

    if device != "cpu":
        return torch.bfloat16
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32


class TransformersLLM:
    """A causal LM run in-process with transformers."""

    def __init__(self, config: LLMConfig, progress: bool = True, model=None, tokenizer=None):
        self.config = config
        self.name = config.model
        self.device = pick_device(config.device)
        if model is None:
            model, tokenizer = self._load(progress)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        # Decoder-only models must be padded on the left so every prompt ends where generation starts.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _load(self, progress: bool):
        import torch
        from transformers import AutoTokenizer

        path = resolve_llm_path(self.config.model, progress=progress)
        dtype = {
            "auto": auto_dtype(self.device),
            "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
        }.get(self.config.dtype)
        if dtype is None:
            raise BackendError(f"llm.dtype {self.config.dtype!r} — use auto, float32, bfloat16 or float16")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = load_causal_lm(path, dtype)  # a LoRA version: base + adapter, merged
        except (OSError, ValueError) as err:
            raise BackendError(
                f"cannot load model {self.config.model!r} ({str(err).splitlines()[0]}) — give a local "
                "path or a Hugging Face id that is in the local cache (ragft works offline)"
            ) from None
        return model, tokenizer

    @property
    def context_window(self) -> int | None:
        """Tokens the model can attend to (prompt + answer), from its config; None when unknown."""
        return getattr(self.model.config, "max_position_embeddings", None)

    def _check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """A clear error instead of a model run past its context (slow, then garbage or a crash)."""
        window = self.context_window
        if window and prompt_tokens + max_new_tokens > window:
            raise BackendError(f"the prompt has {prompt_tokens:,} tokens and the answer may take {max_new_tokens:,}: "
                               f"over {self.config.model}'s context of {window:,} — shorten the question or "
                               "history, or retrieve fewer/shorter passages (retrieval.top_k, the chunker's size)")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, conversation: Messages) -> str:
        """The exact prompt text the model sees, in its own chat template."""
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def generate(self, conversations, max_new_tokens=None, temperature=None, top_p=None, seed=None, stop=None):
        max_new_tokens = max_new_tokens or self.config.max_new_tokens
        sampling = self._sampling(temperature, top_p, seed, stop)
        prompts = [self.render(c) for c in conversations]
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        size = self.config.batch_size
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            for i, gen in zip(batch, self._generate_batch([prompts[i] for i in batch], max_new_tokens, sampling)):
                results[i] = gen
        return results

    def _sampling(self, temperature: float | None, top_p: float | None, seed: int | None,
                  stop: list[str] | None) -> dict:
        """Keyword arguments for ``model.generate``; seeds torch's generator when a seed is given."""
        import torch

        temperature = self.config.temperature if temperature is None else temperature
        sampling: dict = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        if temperature > 0 and top_p is not None:
            sampling["top_p"] = top_p
        if stop:  # generation ends once one appears; the text still holds it
            sampling.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        if seed is not None:
            torch.manual_seed(seed)
        return sampling

    def _per_prompt_prefill(self, batch_size: int) -> bool:
        """Read each prompt alone before decoding the batch together (``ragft.models.decoding``):
        the default on a CPU, where padded prefill costs more than batching saves."""
        prefill = self.config.prefill
        if prefill == "auto":
            prefill = "per_prompt" if self.device == "cpu" else "padded"
        return prefill == "per_prompt" and batch_size > 1 and supports_prefilled_cache(self.model)

    def _encode(self, prompts: list[str], max_new_tokens: int) -> dict:
        """The model's inputs for a batch: left-padded ids and mask, plus a prefilled cache when
        prompts are read one at a time."""
        if self._per_prompt_prefill(len(prompts)):
            rows = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
            self._check_fits(max(len(row) for row in rows), max_new_tokens)
            ids, mask, cache = prefilled_cache(self.model, rows, max_new_tokens, self.tokenizer.pad_token_id)
            return {"input_ids": ids, "attention_mask": mask, "past_key_values": cache}
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        self._check_fits(int(encoded["attention_mask"].sum(dim=1).max()), max_new_tokens)
        return {k: v.to(self.device) for k, v in encoded.items()}

    def _generate_batch(self, prompts: list[str], max_new_tokens: int, sampling: dict) -> list[Generation]:
        import torch

        started = time.perf_counter()
        encoded = self._encode(prompts, max_new_tokens)
        sampling = dict(sampling)
        follower = _FinishedRows(encoded["input_ids"].shape[1], self._stop_ids()) if generation_hook() else None
        sampling["stopping_criteria"] = _stopping_criteria(follower, encoded["input_ids"].shape[1])
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                **sampling,
            )
        if follower is not None:
            report_generated(len(prompts) - follower.reported)  # rows that ran to max_new_tokens
        # The batch shares one forward pass; each prompt is charged an equal share of its time.
        latency = (time.perf_counter() - started) / len(prompts)
        prompt_width = encoded["input_ids"].shape[1]
        generations = []
        for row, mask in zip(output, encoded["attention_mask"]):
            new_tokens = _until_stop(row[prompt_width:].tolist(), self._stop_ids())
            generations.append(Generation(
                text=trim_repetition(self.tokenizer.decode(new_tokens, skip_special_tokens=True)),
                prompt_tokens=int(mask.sum()),
                completion_tokens=len(new_tokens),
                latency_s=latency,
            ))
        return generations

    def choose(self, conversations: list[Messages], choices: list[tuple[str, ...]]) -> list[tuple[Generation, dict]]:
        """For each conversation, the choice the model finds most likely as its whole reply.

        A label's score is the log-probability of its tokens after the prompt, summed, taken
        over its lower- and capitalised spellings ("yes"/"Yes") — constrained choice as in
        lm-evaluation-harness's multiple-choice tasks, not parsing free text. Returns
        ``(Generation(text=label), {label: log-probability})`` per conversation.
        """
        return [self._choose_one(conversation, labels) for conversation, labels in zip(conversations, choices)]

    def _choose_one(self, conversation: Messages, labels: tuple[str, ...]) -> tuple[Generation, dict]:
        import copy

        import torch

        started = time.perf_counter()
        prompt = self.tokenizer(self.render(conversation), add_special_tokens=False)["input_ids"]
        forms = [(label, form) for label in labels for form in dict.fromkeys([label, label[:1].upper() + label[1:]])]
        by_label: dict[str, list[float]] = {}
        with torch.inference_mode():
            # The prompt is read once; its cache serves every continuation (RAG prompts are long).
            out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            for label, form in forms:
                tokens = self.tokenizer(form, add_special_tokens=False)["input_ids"]
                total = float(first[tokens[0]])
                if len(tokens) > 1:
                    rest = self.model(input_ids=torch.tensor([tokens[:-1]], device=self.device),
                                      past_key_values=copy.deepcopy(out.past_key_values), use_cache=True)
                    steps = torch.log_softmax(rest.logits[0].float(), dim=-1)
                    total += sum(float(steps[i, token]) for i, token in enumerate(tokens[1:]))
                by_label.setdefault(label, []).append(total)
        scores = {label: float(torch.logsumexp(torch.tensor(values), dim=0)) for label, values in by_label.items()}
        best = max(scores, key=scores.get)
        # The chosen label's tokens are the reply, as if generated (the cost model counts them).
        return Generation(text=best, prompt_tokens=len(prompt),
                          completion_tokens=len(self.tokenizer(best, add_special_tokens=False)["input_ids"]),
                          latency_s=time.perf_counter() - started), scores

    def generate_stream(self, conversation: Messages, on_text, max_new_tokens: int | None = None,
                        temperature: float | None = None, top_p: float | None = None, seed: int | None = None,
                        stop: list[str] | None = None) -> Generation:
        """One answer, calling ``on_text(piece)`` as text is decoded (for streaming UIs); returns
        the same ``Generation`` that ``generate`` would."""
        import torch

        max_new_tokens = max_new_tokens or self.config.max_new_tokens
        sampling = self._sampling(temperature, top_p, seed, stop)
        encoded = self.tokenizer([self.render(conversation)], return_tensors="pt", add_special_tokens=False)
        self._check_fits(int(encoded["input_ids"].shape[1]), max_new_tokens)
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                streamer=_callback_streamer(self.tokenizer, on_text),
                stopping_criteria=_stopping_criteria(None, encoded["input_ids"].shape[1]), **sampling,
            )
        prompt_width = encoded["input_ids"].shape[1]
        new_tokens = _until_stop(output[0][prompt_width:].tolist(), self._stop_ids())
        return Generation(text=trim_repetition(self.tokenizer.decode(new_tokens, skip_special_tokens=True)),
                          prompt_tokens=int(prompt_width), completion_tokens=len(new_tokens),
                          latency_s=time.perf_counter() - started)

    def _stop_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids]) if ids is not None else set()
        ids.add(self.tokenizer.eos_token_id)
        return {i for i in ids if i is not None}


class _FinishedRows:
    """Called at every decoding step: reports rows of the batch that have just emitted a stop
    token, so a study's progress moves per question inside a batch. It never stops anything."""

    def __init__(self, prompt_width: int, stop_ids: set[int]):
        self.prompt_width, self.stop_ids, self.reported = prompt_width, sorted(stop_ids), 0

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        new = input_ids[:, self.prompt_width:]
        stops = torch.tensor(self.stop_ids, device=input_ids.device)
        finished = int(torch.isin(new, stops).any(dim=1).sum()) if new.shape[1] else 0
        if finished > self.reported:
            report_generated(finished - self.reported)
            self.reported = finished
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def _stopping_criteria(follower: _FinishedRows | None, prompt_width: int):
    """Stop a row once it loops (``ragft.models.loops``); with a ``follower``, also report each
    finished row to whoever follows progress."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Follow(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return follower(input_ids, scores, **kwargs)

    return StoppingCriteriaList([repeat_stop(prompt_width)] + ([Follow()] if follower is not None else []))


def _callback_streamer(tokenizer, on_text):
    """A transformers streamer that hands each decoded piece of new text to ``on_text``."""
    from transformers import TextStreamer

    class CallbackStreamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            if text:
                on_text(text)

    return CallbackStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _until_stop(tokens: list[int], stop_ids: set[int]) -> list[int]:
    for position, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:position]
    return tokens
