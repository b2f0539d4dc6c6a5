"""Checks on feedback values, shared by the store, the file importer and the web app."""

from __future__ import annotations

from ragft.errors import RagftError

VOTES = ("up", "down")
CHOICES = ("a", "b", "tie")


def require_text(field: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RagftError(f"{field} must be non-empty text")


def check_vote(vote: str) -> str:
    value = str(vote).strip().lower()
    value = {"+1": "up", "1": "up", "-1": "down"}.get(value, value)
    if value not in VOTES:
        raise RagftError(f"vote must be 'up' or 'down', got {vote!r}")
    return value


def check_rating(rating) -> int:
    try:
        value = int(str(rating).strip())
    except ValueError:
        raise RagftError(f"rating must be an integer from 1 to 5, got {rating!r}") from None
    if not 1 <= value <= 5:
        raise RagftError(f"rating must be an integer from 1 to 5, got {rating!r}")
    return value


def check_choice(choice: str) -> str:
    value = str(choice).strip().lower()
    if value not in CHOICES:
        raise RagftError(f"choice must be 'a', 'b' or 'tie', got {choice!r}")
    return value
