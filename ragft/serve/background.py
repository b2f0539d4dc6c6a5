"""Run the web app in a background thread (tests, scripts, notebooks) on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from ragft.errors import RagftError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class BackgroundServer:
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_in_thread(app, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 60) -> BackgroundServer:
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, name="ragft-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RagftError(f"the web app did not start on {host}:{port}")
        time.sleep(0.05)
    return BackgroundServer(server, thread, f"http://{host}:{port}")
