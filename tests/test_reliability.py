"""Nothing lost under concurrency: one writer at a time per workspace, and readers that never
fail while a writer swaps index versions under them. Fast, local, no model."""

from __future__ import annotations

import threading
import time

import numpy as np

from ragft.config import WorkspaceConfig
from ragft.index.store import HybridIndex, Manifest
from ragft.types import Chunk
from ragft.workspace import Workspace, ingest


def _tiny_index(n: int, tag: int) -> HybridIndex:
    chunks = [Chunk(f"doc{i}.txt#0", f"doc{i}.txt", f"version {tag} text {i}", 0, 10) for i in range(n)]
    vectors = np.random.default_rng(tag).normal(size=(n, 8)).astype(np.float32)
    return HybridIndex(chunks, vectors, Manifest(embedder="test", dim=8, chunker={}), None)


def test_readers_never_fail_while_a_writer_swaps_versions_100_times(tmp_path):
    folder = tmp_path / "index"
    _tiny_index(50, 0).save(folder)
    failures: list[Exception] = []
    loads = [0]
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert len(HybridIndex.load(folder).chunks) == 50
                loads[0] += 1
            except Exception as err:  # noqa: BLE001 — any failure is the finding
                failures.append(err)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for round_ in range(1, 101):
        _tiny_index(50, round_).save(folder)
    done.set()
    for reader in readers:
        reader.join()
    assert not failures and loads[0] > 0
    assert HybridIndex.load(folder).chunks[0].text == "version 100 text 0"
    assert len([p for p in folder.iterdir() if p.name.startswith("v-")]) == 1  # old versions cleaned up


def test_a_second_writer_waits_for_the_first_and_builds_on_its_result(tmp_path, embedder, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, name in ((first, "a.txt"), (second, "b.txt")):
        folder.mkdir()
        (folder / name).write_text(f"The {name} document says hello.", encoding="utf-8")
    workspace = Workspace(tmp_path / "ws")
    ingest(workspace, first, WorkspaceConfig(), embedder)
    finished: dict = {}
    worker = threading.Thread(target=lambda: finished.update(
        stats=ingest(workspace, second, WorkspaceConfig(), embedder)[1]))
    with workspace.writing():  # another writer holds the workspace
        worker.start()
        time.sleep(1.0)
        assert "stats" not in finished  # so this ingest waits
    worker.join(timeout=120)
    stats = finished["stats"]
    assert (stats.added, stats.removed) == (1, 1)  # computed against the index the first one left
    assert "another ingest is writing" in capsys.readouterr().out
    assert not (workspace.path / ".write.pid").exists()
