"""Nothing lost under concurrency: one writer at a time per workspace, and readers that never
fail while a writer swaps index versions under them. Fast, local, no model."""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
import pytest

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


class _FinalizedCycle:
    """Garbage whose collection runs Python code: a thread switch in the middle of whatever C code
    triggered the collection (here, numpy's ``ast.literal_eval`` of a ``.npy`` header)."""

    def __del__(self):
        sum(range(20))


def test_two_threads_opening_an_index_under_gc_pressure_never_fail(tmp_path):
    # Without NPY_HEADERS this failed after ~850 opens: CPython 3.11 shares the AST constructor's
    # recursion depth between threads (python/cpython#106905), "SystemError: AST constructor ...".
    folder = tmp_path / "index"
    _tiny_index(20, 0).save(folder)
    failures: list[Exception] = []
    opened = [0]

    def open_repeatedly() -> None:
        while opened[0] < 3000 and not failures:
            cycle = _FinalizedCycle()
            cycle.itself = cycle
            try:
                HybridIndex.load(folder)
                opened[0] += 1
            except Exception as err:  # noqa: BLE001 — any failure is the finding
                failures.append(err)

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 1, 1)
    try:
        threads = [threading.Thread(target=open_repeatedly) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert not failures


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


def test_a_killed_ingest_resumes_reusing_the_embeddings_it_had_finished(tmp_path, embedder, monkeypatch):
    import ragft.index.embedding as embedding

    monkeypatch.setattr(embedding, "EMBED_SLICE", 4)
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(10):
        (docs / f"d{n}.txt").write_text(f"Document number {n} is about topic {n * 7}.", encoding="utf-8")
    workspace = Workspace(tmp_path / "ws")

    class Crashing:
        """The real embedder, killed after two slices (like kill -9 at 2/3 of the embedding)."""

        name, dim, calls = embedder.name, embedder.dim, 0

        def embed(self, texts, progress=False):
            Crashing.calls += 1
            if Crashing.calls > 2:
                raise KeyboardInterrupt
            return embedder.embed(texts, progress=progress)

    try:
        ingest(workspace, docs, WorkspaceConfig(), Crashing())
    except KeyboardInterrupt:
        pass
    assert not workspace.has_index()

    embedded: list[int] = []

    class Counting(Crashing):
        def embed(self, texts, progress=False):
            embedded.append(len(texts))
            return embedder.embed(texts, progress=progress)

    _, stats = ingest(workspace, docs, WorkspaceConfig(), Counting())
    assert (stats.embedded_chunks, stats.resumed_chunks) == (2, 8) and embedded == [2]  # two slices reused
    assert not (workspace.index_dir / ".embedding-checkpoint").exists()
    fresh = Workspace(tmp_path / "fresh")
    ingest(fresh, docs, WorkspaceConfig(), embedder)
    assert np.allclose(workspace.load_index(None).embeddings, fresh.load_index(None).embeddings, atol=1e-5)


@pytest.mark.slow
def test_sigterm_stops_a_generating_server_within_seconds(tmp_path):
    """A server busy writing a long (non-streamed) answer exits within 5 s of SIGTERM, and the
    generation in flight is told to stop at its next token (``ModelWorker.shutdown``)."""
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ragft.cli", "serve", "-w", str(tmp_path / "ws"), "--port",
                               str(port), "--no-access-log"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                httpx.get(f"{url}/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        short = {"model": "closed-book.base", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=short, timeout=300).status_code == 200  # model loaded
        body = {"model": "closed-book.base", "max_tokens": 1000, "temperature": 1.2, "seed": 1,
                "messages": [{"role": "user", "content": "Write a very long story about ferries."}]}
        answered = threading.Event()

        def ask():  # not streamed: nothing but the abort can stop this generation early
            try:
                httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300)
                answered.set()
            except httpx.HTTPError:
                pass

        threading.Thread(target=ask, daemon=True).start()
        time.sleep(3.0)
        assert not answered.is_set(), "the answer ended before the signal: nothing to interrupt"
        started = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.perf_counter() - started < 5
    finally:
        if server.poll() is None:
            server.kill()


def test_an_unwritable_workspace_is_one_line_before_any_embedding(tmp_path):
    from ragft.errors import RagftError

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Hello there.", encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    class NeverEmbed:
        name, dim = "never", 4

        def embed(self, texts, progress=False):
            raise AssertionError("embedding started before the workspace was checked")

    with pytest.raises(RagftError, match="cannot write the workspace here .* choose a writable folder"):
        ingest(Workspace(blocker / "ws"), docs, WorkspaceConfig(), NeverEmbed())


def test_a_failed_save_leaves_the_live_version_and_no_partial_folder(tmp_path, monkeypatch):
    from ragft.errors import RagftError

    folder = tmp_path / "index"
    _tiny_index(5, 1).save(folder)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(RagftError, match=r"No space left on device\) .* the previous index is intact"):
        _tiny_index(5, 2).save(folder)
    assert HybridIndex.load(folder).chunks[0].text == "version 1 text 0"
    assert not list(folder.rglob("*.partial"))


def test_duplicate_documents_are_named(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (docs / name).write_text("Same words." if name != "c.txt" else "Other words.", encoding="utf-8")
    _, stats = ingest(Workspace(tmp_path / "ws"), docs, WorkspaceConfig(), embedder)
    assert stats.duplicates == [("b.txt", "a.txt")] and stats.documents == 3


@pytest.mark.slow
def test_a_prompt_past_the_models_context_is_one_clear_error(small_llm, monkeypatch):
    from ragft.errors import BackendError

    monkeypatch.setattr(small_llm.model.config, "max_position_embeddings", 64)
    long = [{"role": "user", "content": "ferry " * 200}]
    with pytest.raises(BackendError, match="over builtin:smollm2-135m's context of 64 — shorten"):
        small_llm.generate([long], max_new_tokens=8)
    with pytest.raises(BackendError, match="context of 64"):
        small_llm.generate_stream(long, lambda text: None, max_new_tokens=8)
    assert small_llm.generate([[{"role": "user", "content": "Hi"}]], max_new_tokens=2)[0] is not None


@pytest.mark.slow
def test_kill_9_during_ingest_then_the_rerun_embeds_only_what_was_left(tmp_path):
    import re
    import signal
    import subprocess
    import sys

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(1500):
        (docs / f"note-{n:04d}.txt").write_text(f"Note {n}: the ferry to island {n % 40} leaves at {n % 24}:00.",
                                                  encoding="utf-8")
    workspace = tmp_path / "ws"
    command = [sys.executable, "-m", "ragft.cli", "ingest", str(docs), "-w", str(workspace)]
    checkpoint = workspace / "index" / ".embedding-checkpoint"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(1200):  # until one slice of 512 chunks is saved, then kill -9
            if checkpoint.is_dir() and len(list(checkpoint.glob("*.npy"))) >= 1:
                break
            if first.poll() is not None:
                pytest.skip("the ingest finished before it could be killed")
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert not (workspace / "index" / "CURRENT").exists()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    embedded = int(re.search(r"(\d+) chunks embedded", rerun.stdout).group(1))
    resumed = int(re.search(r"(\d+) resumed from an interrupted ingest", rerun.stdout).group(1))
    assert resumed >= 512 and embedded == 1500 - resumed  # the slices finished before the kill were reused


def test_an_open_index_keeps_searching_after_writers_delete_its_version(tmp_path):
    """A loaded index maps its vectors and BM25 files; the next saves unlink them (POSIX keeps the
    mapped data until the reader drops it), so a server answering from it is unaffected."""
    folder = tmp_path / "index"
    _tiny_index(50, 1).save(folder)
    reader = HybridIndex.load(folder)
    opened = (folder / "CURRENT").read_text()
    before = [(h.chunk.chunk_id, h.score) for h in reader.search("version text 7", k=5, mode="bm25")]
    vectors = np.array(reader.embeddings)
    for tag in (2, 3):
        _tiny_index(50, tag).save(folder)
    assert not (folder / opened).exists()
    assert [(h.chunk.chunk_id, h.score) for h in reader.search("version text 7", k=5, mode="bm25")] == before
    np.testing.assert_array_equal(reader.embeddings, vectors)
    assert HybridIndex.load(folder).chunks[0].text == "version 3 text 0"
