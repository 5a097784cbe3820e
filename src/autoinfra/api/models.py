"""Request bodies of the API: strict pydantic models (unknown fields and wrong types refused).

``strict=True`` means ``"reason": 5`` is a type error rather than the string ``"5"``, and
``extra="forbid"`` means a misspelt field (``"resaon"``) is an error rather than silently ignored:
an approval must say exactly what it means. Written justifications have a minimum length because
an override without a reason is not an audit record anyone can use.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LoginBody", "PauseBody", "PinBody", "RevertBody", "StopBody", "UnpinBody", "VoteBody"]

_STRICT = ConfigDict(extra="forbid", strict=True)
Justification = Field(min_length=5, max_length=2000, description="why, in words, for the audit")


class LoginBody(BaseModel):
    model_config = _STRICT
    token: str = Field(min_length=1, max_length=200, description="a token from `token create`")


class VoteBody(BaseModel):
    model_config = _STRICT
    digest: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the `digest` of the request as shown; a changed request gives 409",
    )
    reason: str = Justification


class PauseBody(BaseModel):
    model_config = _STRICT
    justification: str = Justification


class StopBody(BaseModel):
    model_config = _STRICT
    agent_id: str = Field(min_length=1, max_length=100)
    justification: str = Justification


class RevertBody(BaseModel):
    model_config = _STRICT
    request_id: str = Field(min_length=1, max_length=300)
    justification: str = Justification


class PinBody(BaseModel):
    model_config = _STRICT
    target: str = Field(pattern=r"^(machine|service|rack):[0-9]{1,9}$")
    justification: str = Justification


class UnpinBody(PinBody):
    pass
