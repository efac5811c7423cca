"""Evaluates a rendered IAM policy document for one request, as IAM does for the parts used here.

Hand-written on purpose, and small: moto's evaluator (the maintained one at hand) treats a condition
whose key is absent from the request as met and skips StringLike, both in the direction that would
hide a too-wide policy; principalmapper, which does more, has had no release since 2022.

Covered: Effect Allow/Deny (an explicit Deny wins), Action and Resource with `*`/`?` wildcards
(actions case-insensitive), and the condition operators StringEquals, StringLike, ArnEquals, ArnLike
(keys of one operator AND-ed, values of one key OR-ed, a key absent from the request never matches).
An operator outside that set raises, so a policy cannot pass because the evaluator skipped a part.
"""

from __future__ import annotations

import re

OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": lambda pattern, value: _glob(pattern, value),
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": lambda pattern, value: _glob(pattern, value),
}


def _glob(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    # IAM wildcards: `*` any run of characters (`/` and `:` included), `?` one character; nothing
    # else is special (unlike fnmatch's `[...]`).
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        if operator not in OPERATORS:
            raise ValueError(f"condition operator {operator} is not evaluated here: add it")
        for key, patterns in tests.items():
            if key not in context:
                return False
            if not any(OPERATORS[operator](p, context[key]) for p in _as_list(patterns)):
                return False
    return True


def _statement_matches(statement: dict, action: str, resource: str | None, context: dict) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise ValueError("NotAction/NotResource are not evaluated here")
    if not any(_glob(a, action, case_sensitive=False) for a in _as_list(statement["Action"])):
        return False
    if resource is not None and not any(
        _glob(r, resource) for r in _as_list(statement["Resource"])
    ):
        return False
    return _condition_holds(statement.get("Condition", {}), context)


def allows(
    document: dict, action: str, resource: str | None = None, context: dict | None = None
) -> bool:
    """True when `document` allows `action` on `resource` (None for a trust policy) in `context`."""
    matching = [
        s
        for s in _as_list(document["Statement"])
        if _statement_matches(s, action, resource, context or {})
    ]
    return any(s["Effect"] == "Allow" for s in matching) and not any(
        s["Effect"] == "Deny" for s in matching
    )
