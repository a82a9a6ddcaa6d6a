"""Column-name normalisation shared by the Spark ETL and the batch-prediction reader. Pure."""

from __future__ import annotations

import re


def snake_case(name: str) -> str:
    """``Signup Date`` / ``signupDate`` / ``Signup-Date`` -> ``signup_date``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
