"""ragft: RAG, fine-tuning or both — build, fine-tune and benchmark domain LLM pipelines.

The Python API (``ragft.api``) mirrors the command: ``ragft.open_workspace(path)`` gives a
workspace to ``ingest``, ``study``, ``deploy``, ``ask`` and ``serve`` — imported on first use, so
``import ragft`` stays cheap.
"""

from ragft._version import __version__
__all__ = ["OpenWorkspace", "Reply", "open_workspace", "__version__"]


def __getattr__(name: str):
    if name in ("OpenWorkspace", "Reply", "open_workspace"):
        from ragft import api

        return getattr(api, name)
    raise AttributeError(f"module 'ragft' has no attribute {name!r}")
