"""The study: run variants over a question set, score them, decide and report (``ragft study``).

The pure metrics and statistics it uses live below it in ``ragft.metrics``; dataset adapters in
``ragft.corpus.datasets``; training it triggers in ``ragft.tuning``.
"""
