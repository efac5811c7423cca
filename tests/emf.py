"""A log line checked against CloudWatch's embedded metric format as AWS specifies it: the JSON
schema AWS publishes (tests/data/emf-schema.json) plus the specification's rules on target members,
which a schema cannot express (each referenced member on the root; dimensions strings, metrics
numbers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

_SCHEMA = json.loads((Path(__file__).parent / "data" / "emf-schema.json").read_text())
_VALIDATOR = jsonschema.Draft7Validator(_SCHEMA)


def emf_problems(entry: dict[str, Any]) -> list[str]:
    """Why CloudWatch would not extract metrics from entry; [] when it would."""
    problems = [error.message for error in _VALIDATOR.iter_errors(entry)]
    if problems:
        return problems
    for directive in entry["_aws"]["CloudWatchMetrics"]:
        for dimension in {name for names in directive["Dimensions"] for name in names}:
            if not isinstance(entry.get(dimension), str):
                problems.append(f"dimension {dimension!r} is not a string member of the root")
        for metric in directive["Metrics"]:
            value = entry.get(metric["Name"])
            numbers = value if isinstance(value, list) else [value]
            if (
                not numbers
                or len(numbers) > 100
                or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
            ):
                problems.append(f"metric {metric['Name']!r} is not a number on the root")
    return problems


def emitted_metrics(entry: dict[str, Any]) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric name, dimension names) of every metric entry would create."""
    return {
        (directive["Namespace"], metric["Name"], frozenset(dimensions))
        for directive in entry["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"]
    }
