"""The ``ragft`` command. Each subcommand is a thin call into the modules that do the work.

Commands live by theme — ``workspace`` (ingest, ask, deploy, serve), ``studies`` (study,
report), ``tuning`` (models, train, improve, feedback) — and register on the one ``app`` here.
"""


from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ragft.errors import RagftError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="RAG, fine-tuning or both? Build, fine-tune and benchmark domain LLM pipelines.",
)
console = Console()
err_console = Console(stderr=True)

def _version(value: bool) -> None:
    if value:
        from ragft._version import __version__

        console.print(f"ragft {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print ragft's version and exit")) -> None:
    """RAG, fine-tuning or both? Build, fine-tune and benchmark domain LLM pipelines."""


WorkspaceOption = typer.Option(None, "--workspace", "-w", help="Workspace folder [default: $RAGFT_WORKSPACE or ./ragft-workspace]")


def _workspace(path: Optional[Path]):
    from ragft.workspace import Workspace, default_workspace

    return Workspace(path or default_workspace())


def _quiet_libraries() -> None:
    """Silence the libraries' own load-time chatter; ragft prints what matters."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: everything is local
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import bm25s  # noqa: F401 — imported first: it sets its own logger to DEBUG at import time

    for noisy in ("bm25s", "pypdf", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)




def main() -> None:
    """Entry point: user errors print one line and exit 2; bugs keep their traceback."""
    try:
        app()
    except RagftError as err:
        err_console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted — finished work is saved; re-run to resume")
        sys.exit(130)




# The commands register themselves on ``app`` when their modules are imported.
from ragft.cli import workspace, studies, tuning  # noqa: E402,F401,I001 (the order of --help)
