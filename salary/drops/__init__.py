"""Batch-prediction drops: a Parquet file or a folder of them placed in ``<lake>/drops/incoming/``.

    incoming/<drop> --claim (one rename)--> claimed/<owner>/<drop>
        --> predictions/<drop>/ (+ rows it rejected in drops/rejected/<drop>/), then processed/<drop>
        --> or, when the drop as a whole is unusable, drops/rejected/<drop>/ with _REASON.json

Every step is a rename (``salary.lake.Store``), atomic on HDFS and on a local lake, that fails
rather than overwrite: of two runs claiming the same drop exactly one wins; outputs appear all
at once with their _SUCCESS marker inside; a retry after a crash finds each step done or not.

Modules: ``listing`` (which drops are complete; pure, the triggerer imports it), ``claims``,
``validate`` (Arrow: schema and row rules), ``publish`` (staging and publication).
"""

from __future__ import annotations

from salary.errors import BadInputError

CLAIM_RECORD = "_CLAIM.json"
REASON_FILE = "_REASON.json"
PREDICTION = "prediction"
REJECT_REASON = "reject_reason"


class DropRejected(BadInputError):
    """A drop that cannot be used as a whole (unreadable, wrong schema, no rows)."""
