"""User-facing errors.

A ``RagftError`` is a mistake in the user's input or set-up (a missing file, a bad config, an
unreachable endpoint). The CLI prints its message as one line and exits non-zero, without a
traceback; anything else is a bug and keeps its traceback.
"""


class RagftError(Exception):
    """An error the user can fix; the message says what is wrong and what to do."""


class ConfigError(RagftError):
    """A configuration file or option is invalid."""


class BackendError(RagftError):
    """A model backend could not be loaded or reached."""
