"""ragft: RAG, fine-tuning or both — build, fine-tune and benchmark domain LLM pipelines."""

__version__ = "0.1.0"
