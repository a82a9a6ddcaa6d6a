"""Errors the jobs turn into a distinct exit status, so orchestration can tell them apart."""

from __future__ import annotations

# spark-submit / Ray job exit status for input that no retry can fix.
BAD_INPUT_EXIT_CODE = 3


class BadInputError(ValueError):
    """The input is unusable as it is (missing or mistyped columns, nothing to read)."""
