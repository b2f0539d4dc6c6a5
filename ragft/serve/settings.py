"""How the web app runs: where it listens, who may use it, how much it may take."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ragft.errors import ConfigError

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


GRACEFUL_SHUTDOWN_S = 3  # on SIGTERM, open streams get this long before the server exits


@dataclass
class ServeSettings:
    workspace: Path
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # bearer token for /v1 and the login password for pages
    max_new_tokens: int | None = None  # None: the workspace's llm.max_new_tokens
    max_upload_mb: float = 20.0
    max_queue: int = 256  # model jobs waiting beyond this are answered 503 (retry), not queued forever
    request_timeout_s: float = 120.0  # a generation stops at its next token after this long (finish: "length")
    sources_in_content: bool = True  # /v1 answers end in "Sources: [1] doc, …" (per request: ragft_sources_in_content)
    max_input_chars: int = 16_000  # a /v1 conversation longer than this is refused at once (400), never queued
    access_log: bool = True  # one line per request on stderr: client, method, path, status, seconds

    def __post_init__(self):
        self.workspace = Path(self.workspace)
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"--host {self.host} listens beyond this machine: give an access token with --token "
                "(or $RAGFT_SERVE_TOKEN); the API then needs 'Authorization: Bearer <token>' and the pages a login")
        if self.max_upload_mb <= 0:
            raise ConfigError("--max-upload-mb must be positive")

    @property
    def auth_required(self) -> bool:
        return bool(self.token)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
