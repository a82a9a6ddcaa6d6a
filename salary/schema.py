"""The one statement of what a column must be, adapted to Spark (raw chunks, in etl) and to
Arrow (prediction drops, in drops.validate). Pure: no engine is imported here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Kinds a column type can satisfy; an engine adapter says which ones each of its types has.
INTEGER, NUMERIC, STRING, DATELIKE, BOOLEAN = "integer", "numeric", "string", "datelike", "boolean"


@dataclass(frozen=True)
class ColumnRule:
    kind: str  # what the found type must satisfy
    text: str  # how an error message says it
    target: str  # the canonical type after normalisation: long, int, double, date, boolean, string


RULES: dict[str, ColumnRule] = {
    "id": ColumnRule(INTEGER, "an integer type", "long"),
    "name": ColumnRule(STRING, "string", "string"),
    "age": ColumnRule(INTEGER, "an integer type", "int"),
    "salary": ColumnRule(NUMERIC, "a numeric type", "double"),
    "signup_date": ColumnRule(DATELIKE, "date or timestamp", "date"),
    "is_active": ColumnRule(BOOLEAN, "boolean", "boolean"),
}
RAW_COLUMNS = tuple(RULES)  # the training data, in the order it is written
LABEL = "salary"
# Curated rows also say which raw chunk they came from: "generated" or "labelled-<drop>".
SOURCE = "source"
# A prediction drop: the model's inputs and id; the label is optional (it gives a live MSE).
DROP_COLUMNS = ("id", "age", "is_active", "signup_date")


@dataclass(frozen=True)
class FoundType:
    kinds: frozenset[str]  # which kinds the engine's type satisfies
    shown: str  # the engine's name for it, for messages


def problems(found: Mapping[str, FoundType], required: Iterable[str], optional: Iterable[str] = ()) -> list[str]:
    """Every missing required column and every present column of the wrong type, in rule order."""
    must, checked = set(required), {*required, *optional}
    out = []
    for column, rule in RULES.items():
        if column not in found:
            if column in must:
                out.append(f"missing column '{column}' (expected {rule.text})")
        elif column in checked and rule.kind not in found[column].kinds:
            out.append(f"column '{column}' has type {found[column].shown}, expected {rule.text}")
    return out
