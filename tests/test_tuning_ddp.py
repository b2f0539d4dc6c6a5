"""Multi-process training through ``accelerate launch`` with the shipped DDP config: two CPU
processes (gloo) train one SFT step, and only the main process exports and registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragft.models.registry import ModelRegistry

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / "ddp.yaml"


def test_sft_with_two_cpu_processes(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is code {i}?", "answer": f"Code {i} is a form."}) + "\n"
                            for i in range(4)))
    workspace = tmp_path / "ws"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
               "--num_processes", "2", "--module", "ragft.cli", "train", "sft", "--workspace", str(workspace),
               "--data", str(data), "--max-steps", "1", "--batch-size", "1", "--max-length", "96"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    versions = ModelRegistry(workspace / "models").list()
    assert [v.name for v in versions] == ["sft-1"]  # registered once, by the main process
    assert versions[0].metrics["processes"] == 2 and versions[0].metrics["steps"] == 1
    assert (Path(versions[0].path) / "adapter_model.safetensors").is_file()  # LoRA: stored as its adapter
