"""Pure scoring helpers, below every layer that scores, trains or judges.

- ``metrics``: answer metrics (exact match, token F1, ROUGE, labels, embedding similarity…).
- ``stats``: bootstrap confidence intervals, paired tests, multiple-comparison corrections.
- ``power``: how many questions a verdict needs.
- ``hygiene``: train/test overlap checks and text normalisation.
- ``evidence``: locating gold evidence spans in chunks and measuring their coverage.

No module here imports a higher layer (rag, tuning, study…); see ``[tool.importlinter]``.
"""
