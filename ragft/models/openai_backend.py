"""The OpenAI-compatible chat-completions backend (vLLM, Ollama, llama.cpp server, hosted APIs),
called with httpx; ``ragft.models.llm.load_llm`` picks it for ``backend: openai``."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from ragft.config import LLMConfig
from ragft.errors import BackendError
from ragft.models.progress import generation_hook, report_generated
from ragft.types import Generation

Messages = list[dict[str, str]]


class OpenAICompatibleLLM:
    """Any OpenAI-compatible chat-completions endpoint, called with httpx.

    Requests for one ``generate`` call run ``batch_size`` at a time in threads (servers such as
    vLLM batch concurrent requests themselves). Connection errors, 429 and 5xx answers are retried
    with exponential back-off; anything else fails at once with the server's message.
    """

    RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}

    def __init__(self, config: LLMConfig):
        import httpx

        if not config.base_url:
            raise BackendError("llm.base_url is required for the openai backend, e.g. http://127.0.0.1:8000/v1")
        self.config = config
        self.name = config.model
        self.base_url = config.base_url.rstrip("/")
        headers = {}
        api_key = os.environ.get(config.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.client = httpx.Client(headers=headers, timeout=config.timeout_s)

    def generate(self, conversations, max_new_tokens=None, temperature=None, top_p=None, seed=None, stop=None):
        max_new_tokens = max_new_tokens or self.config.max_new_tokens
        temperature = self.config.temperature if temperature is None else temperature
        extra = {k: v for k, v in (("top_p", top_p), ("seed", seed), ("stop", list(stop) if stop else None))
                 if v is not None}
        hook = generation_hook()  # the pool's threads do not see the caller's context variables

        def complete(conversation: Messages) -> Generation:
            generation = self._complete(conversation, max_new_tokens, temperature, **extra)
            report_generated(1, hook)
            return generation

        with ThreadPoolExecutor(max_workers=self.config.batch_size) as pool:
            return list(pool.map(complete, conversations))

    def _complete(self, messages: Messages, max_new_tokens: int, temperature: float, **extra) -> Generation:
        body = {"model": self.config.model, "messages": messages,
                "max_tokens": max_new_tokens, "temperature": temperature, **extra}
        started = time.perf_counter()
        data = self._post_with_retries(f"{self.base_url}/chat/completions", body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{self.base_url}: the answer has no choices[0].message.content — is it an "
                               "OpenAI-compatible chat-completions endpoint?") from None
        usage = data.get("usage") or {}
        return Generation(text=text.strip(), prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          latency_s=time.perf_counter() - started)

    def _post_with_retries(self, url: str, body: dict) -> dict:
        import httpx

        problem = ""
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                response = self.client.post(url, json=body)
            except httpx.TimeoutException:
                problem = f"no answer within {self.config.timeout_s:g} s"
                continue
            except httpx.TransportError as err:
                problem = f"cannot connect ({type(err).__name__})"
                continue
            if response.status_code in self.RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise BackendError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
            try:
                return response.json()
            except ValueError:
                raise BackendError(f"{url}: the answer is not JSON — check llm.base_url") from None
        raise BackendError(
            f"{url}: {problem} after {self.config.max_retries + 1} attempts — is the server running "
            "and is llm.base_url right?"
        )
