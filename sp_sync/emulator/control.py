"""The ``/_emulator/…`` control API's inputs, validated strictly (pydantic).

A test that sets up a fault must get the fault it meant or a 400 that names the field:
unknown keys, wrong types (``"retry_after": 2``, ``"times": "x"``, ``"status": "abc"``)
and bad regular expressions are refused, and a list of rules is applied only when every
entry is valid (all or nothing).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from sp_sync.emulator.faults import KINDS, FaultRule

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FaultRuleIn(_Strict):
    kind: Literal["status", "after_write", "edit", "reset", "slow", "truncate", "html",
                  "oversize", "deep"] = "status"
    method: StrictStr | None = None
    path: StrictStr = ".*"
    status: Annotated[StrictInt, Field(ge=100, le=599)] = 503
    retry_after: StrictStr | None = None  # verbatim header text: "2", an HTTP date, "soon"
    times: Annotated[StrictInt, Field(ge=0)] | None = 1
    skip: Annotated[StrictInt, Field(ge=0)] = 0
    probability: Annotated[StrictFloat | StrictInt, Field(ge=0, le=1)] | None = None
    seed: StrictInt = 0
    delay_ms: Annotated[StrictInt, Field(ge=0, le=600_000)] = 0
    user: StrictStr | None = None
    fields: dict[StrictStr, Any] | None = None
    code: StrictStr | None = None
    message: StrictStr | None = None
    size: Annotated[StrictInt, Field(ge=1, le=200_000_000)] = 10_000_000
    depth: Annotated[StrictInt, Field(ge=1, le=10_000_000)] = 100_000

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in METHODS:
            raise ValueError(f"must be one of {', '.join(METHODS)}")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def rule(self) -> FaultRule:
        data = self.model_dump()
        data["probability"] = None if self.probability is None else float(self.probability)
        return FaultRule(**data)


assert set(KINDS) == set(FaultRuleIn.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]


class ItemRef(_Strict):
    list: StrictStr = Field(min_length=1)
    id: StrictStr | StrictInt
    user: StrictStr | None = None


class EditIn(_Strict):
    """A person's edit (``id`` given) or a new item (no ``id``)."""

    list: StrictStr = Field(min_length=1)
    id: StrictStr | StrictInt | None = None
    fields: dict[StrictStr, Any] = Field(default_factory=dict)
    user: StrictStr | None = None


class ListIn(_Strict):
    list: StrictStr = Field(min_length=1)


class Empty(_Strict):
    pass


class ControlError(ValueError):
    """A control request that is refused with 400; ``fields`` names what is wrong."""

    def __init__(self, message: str, fields: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


def _problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [{"field": prefix + (".".join(str(p) for p in e["loc"]) or "(body)"),
             "message": e["msg"]} for e in exc.errors()]


def _refuse(problems: list[dict[str, str]]) -> ControlError:
    text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return ControlError(f"invalid input: {text}", problems)


def parse(model: type[_Strict], data: Any) -> Any:
    """Validate ``data``; ``ControlError`` naming every bad field otherwise."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _refuse([{"field": "(body)", "message": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refuse(_problems(exc)) from None


def parse_rules(data: Any) -> list[FaultRule]:
    """One rule (an object) or a list of rules; all valid, or none applied."""
    entries = data if isinstance(data, list) else [data]
    rules: list[FaultRule] = []
    problems: list[dict[str, str]] = []
    for index, entry in enumerate(entries):
        prefix = f"{index}." if isinstance(data, list) else ""
        if not isinstance(entry, dict):
            problems.append({"field": prefix + "(rule)" if prefix else "(body)",
                             "message": "must be a JSON object (a fault rule)"})
            continue
        try:
            rules.append(FaultRuleIn.model_validate(entry).rule())
        except ValidationError as exc:
            problems += _problems(exc, prefix)
    if problems:
        raise _refuse(problems)
    return rules
