"""Pure scoring helpers, below every layer that scores, trains or judges.

- ``answers``: answer metrics (exact match, token F1, ROUGE-L, span overlap, embedding similarity).
- ``tutorial``: the KDD 2024 tutorial's answer scores, as continuous-eval computes them.
- ``labels``: parsing a label out of an answer; accuracy and macro F1.
- ``retrieval``: recall@k, hit@k, MRR, nDCG over ranked ids.
- ``tasks``: the per-answer metrics by name and which ones each task type reports.
- ``stats``: bootstrap confidence intervals, paired tests, multiple-comparison corrections.
- ``power``: how many questions a verdict needs.
- ``hygiene``: train/test overlap checks and text normalisation.
- ``evidence``: locating gold evidence spans in chunks and measuring their coverage.

No module here imports a higher layer (rag, tuning, study…); see ``[tool.importlinter]``.
"""
