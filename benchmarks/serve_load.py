"""Load test for `ragft serve` (a script, not a test): N concurrent clients on loopback.

Starts the real server as a subprocess on a workspace (built from two sample documents unless
--workspace is given), then runs --clients concurrent clients for --seconds. Each client opens a
browser-like session (GET /chat for its cookie and CSRF token) and loops: mostly feedback posts
(vote / rating / edit on answers produced during warm-up), and with probability --chat-share a
chat request through the OpenAI-compatible API. It reports requests/s, p50/p95 latency per kind,
the status codes seen, and whether every feedback post answered 200 is in the store
(count in = count stored).

    .venv/bin/python benchmarks/serve_load.py --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragft.feedback.store import FeedbackStore  # noqa: E402
from ragft.serve.background import free_port  # noqa: E402

QUESTIONS = ["How many days of annual leave do employees get?", "Where is Brennock based?",
             "Who can approve leave requests?", "What is parental leave?"]


def build_workspace(root: Path) -> Path:
    from ragft.config import ChunkerConfig, LLMConfig, WorkspaceConfig
    from ragft.data import sample_docs_dir
    from ragft.models import load_embedder
    from ragft.workspace import Workspace, ingest

    docs = root / "docs"
    for name in ("hr/leave-policy.md", "company/about-brennock.md"):
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_docs_dir() / name, docs / name)
    config = WorkspaceConfig(llm=LLMConfig(max_new_tokens=16), chunker=ChunkerConfig(params={"max_chars": 600}))
    config.retrieval.top_k = 3
    workspace = Workspace(root / "ws")
    ingest(workspace, docs, config, load_embedder(config.embedder))
    return workspace.path


def start_server(workspace: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    process = subprocess.Popen([sys.executable, "-m", "ragft.cli", "serve", "--workspace", str(workspace),
                                "--port", str(port)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not start")


async def session(client: httpx.AsyncClient) -> str:
    html = (await client.get("/chat")).text
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


async def warm_up(base: str, n: int) -> list[int]:
    """A few real answers (this also loads the models) for the clients to give feedback on."""
    ids = []
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for i in range(n):
            reply = await client.post("/v1/chat/completions", json={
                "model": "rag.base", "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]})
            reply.raise_for_status()
            ids.append(reply.json()["ragft"]["interaction_id"])
    return ids


async def client_loop(base: str, deadline: float, interaction_ids: list[int], chat_share: float, seed: int,
                      latencies: dict, statuses: Counter, accepted: Counter) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        csrf = await session(client)
        headers = {"X-CSRF-Token": csrf}
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if rng.random() < chat_share:
                kind = "chat"
                reply = await client.post("/v1/chat/completions", json={
                    "model": rng.choice(["rag.base", "closed-book.base"]),
                    "messages": [{"role": "user", "content": rng.choice(QUESTIONS)}]})
            else:
                kind = rng.choice(["votes", "ratings", "edits"])
                iid = rng.choice(interaction_ids)
                path, body = {"votes": ("vote", {"vote": rng.choice(["up", "down"])}),
                              "ratings": ("rating", {"rating": rng.randint(1, 5)}),
                              "edits": ("edit", {"corrected_answer": f"corrected by client {seed}"})}[kind]
                reply = await client.post(f"/api/feedback/{iid}/{path}", json=body, headers=headers)
            latencies[kind].append(time.perf_counter() - started)
            statuses[(kind, reply.status_code)] += 1
            if reply.status_code == 200 and kind != "chat":
                accepted[kind] += 1
            elif reply.status_code == 503:
                await asyncio.sleep(float(reply.headers.get("retry-after", "1")))


async def run(base: str, clients: int, seconds: float, chat_share: float, interaction_ids: list[int]):
    latencies, statuses, accepted = defaultdict(list), Counter(), Counter()
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(base, deadline, interaction_ids, chat_share, seed, latencies, statuses,
                                       accepted) for seed in range(clients)))
    return time.perf_counter() - started, latencies, statuses, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--chat-share", type=float, default=0.05, help="share of requests that are chats")
    parser.add_argument("--workspace", type=Path, help="an existing workspace (default: a temporary one)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ragft-load-"))
    workspace = args.workspace or build_workspace(tmp)
    port = free_port()
    server = start_server(workspace, port)
    base = f"http://127.0.0.1:{port}"
    try:
        interaction_ids = asyncio.run(warm_up(base, 4))
        store = FeedbackStore(workspace / "feedback.sqlite")
        before = store.counts()
        wall, latencies, statuses, accepted = asyncio.run(
            run(base, args.clients, args.seconds, args.chat_share, interaction_ids))
        after = store.counts()
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(args, wall, latencies, statuses, accepted, before, after)
    shutil.rmtree(tmp, ignore_errors=True)


def report(args, wall, latencies, statuses, accepted, before, after) -> None:
    total = sum(len(v) for v in latencies.values())
    feedback = total - len(latencies.get("chat", []))
    print(f"\n{args.clients} clients sending for {args.seconds:g} s on loopback (then waiting for answers in "
          f"flight): {total} requests in {wall:.1f} s = {total / wall:.1f} requests/s; feedback "
          f"{feedback / wall:.1f}/s, chat answers {len(latencies.get('chat', [])) / wall:.2f}/s "
          "(generated one at a time: queueing is the chat latency)")
    print(f"{'kind':8} {'n':>6} {'p50 ms':>9} {'p95 ms':>9}")
    for kind, values in sorted(latencies.items()):
        p50, p95 = np.percentile(np.array(values) * 1000, [50, 95])
        print(f"{kind:8} {len(values):6d} {p50:9.1f} {p95:9.1f}")
    print("status codes:", ", ".join(f"{kind} {code}: {n}" for (kind, code), n in sorted(statuses.items())))
    lost = False
    for kind in ("votes", "ratings", "edits"):
        stored = after[kind] - before[kind]
        lost |= stored != accepted[kind]
        print(f"{kind:8} accepted {accepted[kind]:6d}  stored {stored:6d}  {'OK' if stored == accepted[kind] else 'MISMATCH'}")
    print("no feedback row lost" if not lost else "FEEDBACK ROWS LOST")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
