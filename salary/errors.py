"""Errors the jobs turn into a distinct exit status, so orchestration can tell them apart."""

from __future__ import annotations

import errno

# spark-submit / Ray job exit status for input that no retry can fix.
BAD_INPUT_EXIT_CODE = 3
# The lake's storage ran out of room: a retry can succeed once room is made, so this status
# keeps the task's retries; it tells the cause apart in the log and the failure record.
STORAGE_FULL_EXIT_CODE = 4
# How a full filesystem or HDFS shows in an exception's text (Python, Java through Py4J, the
# HDFS client): no room on a local disk, a quota reached, no DataNode with room for a block.
STORAGE_FULL_MARKERS = ("No space left on device", "DSQuotaExceededException", "DiskSpaceQuotaExceededException",
                        "could only be written to 0 of the")


class BadInputError(ValueError):
    """The input is unusable as it is (missing or mistyped columns, nothing to read)."""


def storage_full(err: BaseException | None) -> str | None:
    """The line saying so when ``err``, or an exception that caused it, is the storage being
    full; None otherwise."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return f"{err.strerror}: {err.filename}" if err.filename else str(err.strerror)
        for line in str(err).splitlines():
            if any(marker in line for marker in STORAGE_FULL_MARKERS):
                return line.strip()[:500]
        err = err.__cause__ or err.__context__
    return None
