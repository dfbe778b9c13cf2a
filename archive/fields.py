"""Checking the fields of a body someone sent (a testimony, a consent record): every error is
collected, so the user sees all of them at once."""

from __future__ import annotations

import datetime as dt
from typing import Any


class FieldChecker:
    """Collects every field error of a body; `errors` maps a field's name to what is wrong with it."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def text(self, value: Any, field: str, *, required=False, max_len=500) -> str | None:
        if value is None or value == "":
            if required:
                self.fail(field, "This field is required.")
            return "" if value == "" else None
        if not isinstance(value, str):
            self.fail(field, "Must be text.")
            return None
        value = value.strip()
        if required and not value:
            self.fail(field, "This field is required.")
        if len(value) > max_len:
            self.fail(field, f"Must be at most {max_len} characters.")
        return value

    def integer(self, value: Any, field: str, *, low: int, high: int) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                self.fail(field, "Must be a whole number.")
                return None
        if not low <= value <= high:
            self.fail(field, f"Must be between {low} and {high}.")
            return None
        return value

    def date(self, value: Any, field: str) -> dt.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value) if len(str(value)) == 10 else dt.date.fromisoformat("")
        except (ValueError, TypeError):
            self.fail(field, "Must be a date written YYYY-MM-DD.")
            return None

    def strings(self, value: Any, field: str, *, max_len=300) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, "Must be a list of text values.")
            return []
        out: list[str] = []
        for i, item in enumerate(value):
            item = self.text(item, f"{field}[{i}]", required=True, max_len=max_len)
            if item and item not in out:
                out.append(item)
        return out

    def obj(self, value: Any, field: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(field, "Must be an object.")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(f"{field}.{key}", "Unknown field.")
        return value
