"""Where a study's time goes: generation on RAG prompts, fine-tuning, and `make demo`'s phases.

    .venv/bin/python benchmarks/generation.py                      # all three sections
    .venv/bin/python benchmarks/generation.py --only generation --questions 32
    .venv/bin/python benchmarks/generation.py --only demo --run runs/sample   # phases of a finished run
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation.py --only prefill  # arithmetic rate, one core

1. **Generation on RAG prompts.** The built-in sample's test questions, each with its dense top-5
   passages in the study's RAG prompt (~800 tokens), answered (32 new tokens, greedy) by:
   a per-question loop of plain transformers ``generate`` (the model as ``from_pretrained`` gives
   it: fp32); plain batched ``generate`` (padded batches of 16, fp32); ragft's generator with fp32
   weights; and ragft as a study runs it (its defaults: bf16 on a bf16-capable CPU, each prompt
   prefilled alone and the batch decoded together — ``ragft.models.decoding``). Interleaved: each
   batch of 16 questions goes through every mode in turn, so a change in machine load hits all
   alike. Wall and CPU seconds, generated tokens per second and token F1 (so a faster mode that
   answers worse shows it).
2. **Training.** ``train_sft`` with the demo's settings (configs/sample.yaml's ``finetune.sft``)
   against a plain TRL ``SFTTrainer`` given the same model, examples, LoRA adapter, learning rate,
   batch size and steps, TRL's defaults for everything else; interleaved rounds; non-padding tokens
   per second of training.
3. **`make demo`'s phases**, from ``results.json`` of a finished run (``study.phases``).
4. **Prefill's arithmetic rate** (only with ``--only prefill``): one forward pass over a prompt of
   the RAG prompts' average length (862 tokens), fp32 and bf16, best of 3, with the FLOPs the
   model's shapes imply (matrix products and causal attention), so the GFLOP/s can be set against
   the CPU's peak: how much faster reading a prompt can get without reading fewer tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_NEW_TOKENS = 32
BATCH = 16


def rag_conversations(count: int):
    """The sample's first ``count`` test questions in the study's RAG prompt (dense top-5)."""
    from ragft.config import ChunkerConfig, EmbedderConfig, RetrievalConfig, WorkspaceConfig
    from ragft.corpus.qa import load_qa_file
    from ragft.data import resolve_corpus_path
    from ragft.models.embedder import load_embedder
    from ragft.rag.steps import Retrieve, rag_messages
    from ragft.workspace import Workspace, ingest

    workspace = Workspace(Path(tempfile.mkdtemp(prefix="ragft-bench-")))
    embedder = load_embedder(EmbedderConfig())
    config = WorkspaceConfig(chunker=ChunkerConfig(kind="recursive", params={"max_chars": 800}))  # the demo's
    ingest(workspace, resolve_corpus_path("builtin:sample"), config, embedder)
    index = workspace.load_index(embedder)
    retrieve = Retrieve(index, RetrievalConfig(mode="dense", top_k=5))
    questions = load_qa_file(ROOT / "ragft/data/sample/test.jsonl")[:count]
    return [(rag_messages(q.question, retrieve.search(q.question, None)), q.answers) for q in questions]


class PlainTransformers:
    """What a user writes with transformers alone: ``generate`` per question, or padded batches."""

    def __init__(self, path: str, batch: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.batch, self.torch = batch, torch

    def answer(self, conversations) -> list[tuple[str, int]]:
        out = []
        for start in range(0, len(conversations), self.batch):
            prompts = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                       for c in conversations[start:start + self.batch]]
            encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            with self.torch.inference_mode():
                generated = self.model.generate(**encoded, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                                pad_token_id=self.tokenizer.eos_token_id)
            for row in generated[:, encoded["input_ids"].shape[1]:].tolist():
                row = row[:row.index(self.tokenizer.eos_token_id)] if self.tokenizer.eos_token_id in row else row
                out.append((self.tokenizer.decode(row, skip_special_tokens=True), len(row)))
        return out


class Ragft:
    def __init__(self, dtype: str):
        from ragft.config import LLMConfig
        from ragft.models.llm import TransformersLLM

        self.llm = TransformersLLM(LLMConfig(max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH, dtype=dtype),
                                   progress=False)

    def answer(self, conversations) -> list[tuple[str, int]]:
        return [(g.text, g.completion_tokens) for g in self.llm.generate(conversations)]


def generation(count: int) -> None:
    from ragft.metrics.answers import token_f1
    from ragft.models.builtin import resolve_llm_path
    from ragft.models.threads import apply_threads

    threads = apply_threads()
    items = rag_conversations(count)
    path = resolve_llm_path("builtin:smollm2-135m")
    modes = {
        "per-question loop (transformers generate, fp32)": PlainTransformers(path, 1),
        "plain batched generate (padded, 16, fp32)": PlainTransformers(path, BATCH),
        "ragft, fp32 weights": Ragft("float32"),
        "ragft as a study runs it (auto: bf16 here)": Ragft("auto"),
    }
    llm = modes["ragft, fp32 weights"].llm
    prompt_tokens = [llm.count_tokens(llm.render(c)) for c, _ in items]
    print(f"{len(items)} RAG prompts, {sum(prompt_tokens) / len(items):.0f} prompt tokens on average "
          f"(max {max(prompt_tokens)}), {MAX_NEW_TOKENS} new tokens, {threads} torch threads")
    totals = {name: {"wall": 0.0, "cpu": 0.0, "tokens": 0, "f1": []} for name in modes}
    for name, mode in modes.items():  # warm-up: first-call allocations and kernel choices
        mode.answer([items[0][0]])
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        for name, mode in modes.items():
            wall, cpu = time.perf_counter(), time.process_time()
            answers = mode.answer([c for c, _ in batch])
            totals[name]["wall"] += time.perf_counter() - wall
            totals[name]["cpu"] += time.process_time() - cpu
            totals[name]["tokens"] += sum(n for _, n in answers)
            totals[name]["f1"] += [token_f1(text, golds) for (text, _), (_, golds) in zip(answers, batch)]
        print(f"  {start + len(batch)}/{len(items)} questions", file=sys.stderr)
    loop = totals["per-question loop (transformers generate, fp32)"]
    print("| mode | wall s | CPU s | new tokens | tokens/s | × loop (tokens/s) | token F1 |")
    print("|---|---|---|---|---|---|---|")
    for name, t in totals.items():
        rate = t["tokens"] / t["wall"]
        print(f"| {name} | {t['wall']:.1f} | {t['cpu']:.1f} | {t['tokens']} | {rate:.1f} | "
              f"{rate / (loop['tokens'] / loop['wall']):.2f}× | {sum(t['f1']) / len(t['f1']):.3f} |")


def training(steps: int, rounds: int) -> None:
    import yaml

    from ragft.corpus.qa import load_qa_file
    from ragft.models.registry import ModelRegistry
    from ragft.tuning.data import sft_examples
    from ragft.tuning.sft import SFTTrainConfig, train_sft

    demo = yaml.safe_load((ROOT / "configs/sample.yaml").read_text())["finetune"]["sft"]["train"]
    settings = SFTTrainConfig(**{**demo, "max_steps": steps, "save_steps": 10_000, "logging_steps": steps})
    examples = sft_examples(load_qa_file(ROOT / "ragft/data/sample/train.jsonl"))
    print(f"{len(examples)} SFT examples, {steps} steps of {settings.batch_size}, LoRA r={settings.lora_r}, "
          f"lr {settings.learning_rate}")
    rates: dict[str, list[tuple[float, float, int]]] = {"ragft train_sft": [], "plain TRL SFTTrainer": []}
    for _ in range(rounds):
        registry = ModelRegistry(Path(tempfile.mkdtemp(prefix="ragft-bench-reg-")))
        cpu = time.process_time()
        version = train_sft(examples, settings, registry)
        rates["ragft train_sft"].append((version.metrics["seconds"], time.process_time() - cpu,
                                         version.metrics["tokens_seen"]))
        rates["plain TRL SFTTrainer"].append(_plain_trl(examples, settings))
    print("| trainer | train s | CPU s | tokens | tokens/s |")
    print("|---|---|---|---|---|")
    for name, runs in rates.items():
        seconds, cpu, tokens = (sum(x) for x in zip(*runs))
        print(f"| {name} | {seconds:.1f} | {cpu:.1f} | {tokens} | {tokens / seconds:.1f} |")


def _plain_trl(examples, settings) -> tuple[float, float, int]:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from ragft.models.builtin import resolve_llm_path

    out = tempfile.mkdtemp(prefix="ragft-bench-trl-")
    args = SFTConfig(output_dir=out, learning_rate=settings.learning_rate, max_steps=settings.max_steps,
                     per_device_train_batch_size=settings.batch_size, max_length=settings.max_length,
                     completion_only_loss=True, report_to="none", save_strategy="no", use_cpu=True,
                     logging_steps=settings.max_steps, include_num_input_tokens_seen="non_padding",
                     disable_tqdm=True)
    lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=settings.lora_target_modules, task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=resolve_llm_path("builtin:smollm2-135m"), args=args,
                         train_dataset=Dataset.from_list([e.as_row() for e in examples]), peft_config=lora)
    cpu = time.process_time()
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, time.process_time() - cpu, int(trainer.state.num_input_tokens_seen)


def demo_phases(run: Path) -> None:
    results = json.loads((run / "results.json").read_text())
    phases = results["study"].get("phases")
    if not phases:
        print(f"{run}/results.json has no phases — run `make demo` (or ragft study configs/sample.yaml) first")
        return
    print(f"phases of {run} (wall seconds, {results['study']['created']}):")
    print("| phase | seconds |")
    print("|---|---|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds:.1f} |")


def prefill_rate(tokens: int = 862) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from ragft.models.builtin import resolve_llm_path
    from ragft.models.threads import apply_threads

    threads = apply_threads()
    path = resolve_llm_path("builtin:smollm2-135m")
    print("| dtype | prompt tokens | best of 3, s | tokens/s | GFLOP | GFLOP/s | torch threads |")
    print("|---|---|---|---|---|---|---|")
    for dtype in (torch.float32, torch.bfloat16):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
        c = model.config
        head = c.hidden_size // c.num_attention_heads
        weights = c.hidden_size * (2 * c.hidden_size + 2 * c.num_key_value_heads * head) + 3 * c.hidden_size * c.intermediate_size
        flops = (2 * weights * c.num_hidden_layers * tokens  # the layers' matrix products
                 + c.num_hidden_layers * 2 * 2 * (tokens * tokens / 2) * c.hidden_size  # causal QK and AV
                 + 2 * c.hidden_size * c.vocab_size)  # the last position's logits
        ids = torch.randint(100, 40_000, (1, tokens))
        with torch.inference_mode():
            model(ids, logits_to_keep=1)
            best = float("inf")
            for _ in range(3):
                began = time.perf_counter()
                model(ids, logits_to_keep=1)
                best = min(best, time.perf_counter() - began)
        print(f"| {str(dtype).removeprefix('torch.')} | {tokens} | {best:.3f} | {tokens / best:.0f} | {flops / 1e9:.0f} | "
              f"{flops / best / 1e9:.0f} | {threads} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["generation", "training", "demo", "prefill"])
    parser.add_argument("--questions", type=int, default=32, help="RAG prompts to answer per mode")
    parser.add_argument("--train-steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved training rounds")
    parser.add_argument("--run", type=Path, default=ROOT / "runs/sample", help="a finished make-demo run")
    args = parser.parse_args()
    if args.only in (None, "generation"):
        generation(args.questions)
    if args.only in (None, "training"):
        training(args.train_steps, args.rounds)
    if args.only in (None, "demo"):
        demo_phases(args.run)
    if args.only == "prefill":
        prefill_rate()


if __name__ == "__main__":
    main()
