"""Response JSON through orjson: Flask's documented way to swap the JSON library (app.json).

Why: encoding the body is on every request's path, and orjson does it in a third of the time of
the standard library encoder Flask uses (bench/README.md). Behaviour is kept to Flask's default:
keys sorted, and datetimes, dataclasses and anything else orjson does not know go through Flask's
own default() (HTTP dates, asdict, str); what orjson refuses (non-string keys, an integer beyond
64 bits) goes through Flask's own encoder. Two differences, both towards valid
JSON: non-ASCII text is written as UTF-8, not \\u escapes, and NaN/Infinity as null (on orjson's
path; the fallback writes them as Flask always did).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = _OPTIONS
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):  # Flask asks for indentation in debug mode
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj, **kwargs)
