"""The ragft command as a user runs it: real subprocesses, real models, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def ragft(*args: str, workspace: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    command = [sys.executable, "-m", "ragft.cli", *args]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def test_ingest_mixed_folder_skips_bad_files_with_reasons(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "good.md").write_text("# Ferry\nThe Skerry Line ferry leaves Port Alda at 07:40 every weekday.\n")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    result = ragft("ingest", str(corpus), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("empty.txt", "binary.txt", "broken.pdf"):
        assert name in result.stderr
    assert "Loaded 1 document" in result.stdout and "skipped 3" in result.stdout
    assert "1 new" in result.stdout

    again = ragft("ingest", str(corpus), workspace=tmp_path / "ws")
    assert "1 unchanged" in again.stdout and "0 chunks embedded" in again.stdout


def test_missing_folder_is_one_line_error(tmp_path):
    result = ragft("ingest", str(tmp_path / "nowhere"), workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nowhere: no such file or folder" in result.stderr


def test_version_and_an_empty_question(tmp_path):
    from ragft import __version__

    version = ragft("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"ragft {__version__}"
    empty = ragft("ask", "   ", workspace=tmp_path / "ws")
    assert empty.returncode == 2 and "the question is empty" in empty.stderr and "Traceback" not in empty.stderr


def test_ask_without_index_says_what_to_do(tmp_path):
    result = ragft("ask", "anything?", workspace=tmp_path / "empty")
    assert result.returncode == 2 and "run `ragft ingest PATH` first" in result.stderr


@pytest.mark.slow
def test_ingest_sample_and_ask_with_numbered_sources(tmp_path):
    workspace = tmp_path / "ws"
    result = ragft("ingest", "builtin:sample", workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert "Loaded 27 documents" in result.stdout
    answer = ragft("ask", "Which vessel had the incident INC-2024-031?", "--mode", "hybrid", workspace=workspace)
    assert answer.returncode == 0, answer.stderr
    assert "Greylag" in answer.stdout.split("Sources")[0]  # the answer, from the documents
    assert "] operations/incident-report-inc-2024-031.txt" in answer.stdout.split("Sources")[1]
    assert "[1] " in answer.stdout and "[5] " in answer.stdout
    assert "prompt +" in answer.stdout  # token counts are reported

    import json

    scripted = ragft("ask", "Which vessel had the incident INC-2024-031?", "--json", "--max-new-tokens", "6",
                     workspace=workspace)
    assert scripted.returncode == 0, scripted.stderr
    reply = json.loads(scripted.stdout)  # one JSON object, nothing else on stdout
    assert 0 < reply["completion_tokens"] <= 6 and reply["answer"]
    assert [s["rank"] for s in reply["sources"]] == [1, 2, 3, 4, 5] and reply["sources"][0]["text"]

    models = ragft("models", workspace=workspace)
    assert "builtin:smollm2-135m" in models.stdout and "builtin:all-minilm-l6-v2" in models.stdout
