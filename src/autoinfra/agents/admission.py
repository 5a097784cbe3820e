"""Admission: what an agent returns is screened and named by the runtime before anything acts on it.

An agent's tick is code we may not trust: a policy with a bug, a learned model, a plug-in. Whatever
it says about itself is a claim. A probe of the runtime before this module existed showed what
believing those claims costs: an observer that returned ``agent_id="healing"`` acted as the healer;
a different ``Proposal.agent`` on every proposal got 200 of 200 past a blast radius of 50 (the
gate keeps its budgets per agent name); a policy that reused another agent's predictable request
ids silenced that agent with no audit record; one ``ScaleService(service=1.5)`` raised out of the
runtime and stopped every agent. So the runtime owns the names, and this module is where it takes
them over. For every agent that is due, :meth:`Admission.run`:

1. calls ``agent.tick(now)``; an exception is caught and refused (that agent's proposals for this
   tick are lost; the other agents go on);
2. checks the result's shape: an ``AgentTickResult`` that names no agent or the registered one,
   with an ``Observation``; findings that are not well-formed ``Finding`` objects are dropped;
3. checks each proposal: a ``Proposal`` that names no agent or the registered one; an action of
   the closed set with valid fields, *rebuilt* (``core.actions.rebuild``) so the object admitted
   is one no policy holds; a justification, findings and confidence of the right types and JSON-able
   inputs; and a label (the ``request_id`` the agent put on it) that is a string, not an id the
   runtime issued, not in another agent's namespace and not one this agent used before;
4. stamps what passes with the registered agent id and priority and a request id of the runtime's
   own, ``<agent>/<32 hex digits>`` from :mod:`secrets`: unguessable, so no policy can aim at
   another agent's next request, and namespaced, so ids say whose they are. An id is checked
   against every id issued before; a collision is refused and audited, never merged;
5. hands the admitted proposals back to the agent (``accept``), so outcomes reach it under the
   runtime's ids.

Every refusal is one audit record, ``proposal_refused`` (``finding_refused`` for findings), with
the agent, the reason and the label. A refused proposal has no request id and no action record:
there is no valid request to report on.

The request ids are the one random thing that takes no seed, on purpose: a seeded id is a
predictable id. Nothing depends on their values or order (the arbiter breaks ties by the order
proposals arrive in), so seeded runs stay identical. Agent ids are restricted to letters, digits,
``.``, ``_`` and ``-``, so a namespace prefix cannot be read two ways.

The identity and priority are copied when the runtime is built (:class:`Registration`): changing
``agent.identity`` or ``agent.priority`` later changes nothing the runtime enforces.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autoinfra.agents.base import AgentTickResult
from autoinfra.core.actions import InvalidAction, rebuild
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.core.protocols import Accepting, Identified
from autoinfra.security.audit import AuditLog
from autoinfra.security.identity import Identity, Role

__all__ = ["REFUSED", "Admission", "Registration", "new_token"]

REFUSED = "proposal_refused"  # the audit event of every refusal of a proposal
FINDING_REFUSED = "finding_refused"
TOKEN_BYTES = 16  # 128 bits: a policy cannot guess the next id, nor two ids meet by chance
_SEPARATORS = ("/", "@", ":", "#")  # how ids and labels of an agent begin: "<agent>/...", ...
_TEXT_LIMIT = 300  # refusal reasons quote foreign text; never more than this
_AGENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SCALARS = frozenset({str, int, float, bool, type(None)})  # JSON has a form for each


def new_token() -> str:
    """The random part of a request id (a module function so a test can force a collision)."""
    return secrets.token_hex(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Registration:
    """What the runtime knows an agent as, fixed when the runtime is built."""

    agent_id: str
    identity: Identity
    priority: int

    @classmethod
    def of(cls, agent: Any) -> Registration:
        identity = agent.identity if isinstance(agent, Identified) else None
        agent_id = agent.agent_id
        if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
            raise ConfigError(
                f"agent id {agent_id!r} must be 1-64 letters, digits, '.', '_' or '-' (it begins "
                "every request id of the agent, so separators such as '/' would blur whose it is)",
                field="agents",
            )
        if isinstance(identity, Identity):
            identity = identity.snapshot()
        else:  # no identity is no permission: never a default that may do everything
            identity = Identity.for_role(agent_id, Role.OBSERVER)
        return cls(agent_id, identity, int(agent.priority))


class _Refused(Exception):
    """One proposal is not admitted; the message says why."""


class Admission:
    """Runs agents' ticks, screens what they return and stamps the runtime's names on it."""

    def __init__(self, registrations: Sequence[Registration], audit: AuditLog) -> None:
        self.audit = audit
        self.registered = {r.agent_id: r for r in registrations}
        self._issued: set[str] = set()  # every request id this runtime handed out
        self._labels: dict[str, set[str]] = {r.agent_id: set() for r in registrations}
        self.refusals = 0

    # -- one agent's tick ------------------------------------------------------------------------
    def run(self, agent: Any, reg: Registration, now: float) -> AgentTickResult | None:
        """The agent's tick, screened and stamped; None when nothing of it can be used."""
        try:
            result = agent.tick(now)
        except Exception as exc:  # isolation: any failure of one agent is refused
            self._refuse(reg, now, f"the agent's tick raised {_describe(exc)}")
            return None
        try:
            return self._screen(agent, reg, result, now)
        except _Refused as exc:
            self._refuse(reg, now, str(exc))
        except Exception as exc:  # a hostile __eq__, __iter__ or accept(): refused all the same
            self._refuse(reg, now, f"screening the tick's result raised {_describe(exc)}")
        return None

    def _screen(self, agent: Any, reg: Registration, result: object, now: float) -> AgentTickResult:
        # exact types throughout: a subclass could answer each read differently
        if type(result) is not AgentTickResult:
            raise _Refused(f"the tick returned {type(result).__name__}, not an AgentTickResult")
        if result.agent_id not in ("", reg.agent_id):
            raise _Refused(
                f"the tick result claims agent {_text(result.agent_id)}; this agent is registered "
                f"as {reg.agent_id!r}"
            )
        if not isinstance(result.observation, Observation):
            raise _Refused(f"the tick result's observation is {type(result.observation).__name__}")
        findings = self._findings(reg, result.findings, now)
        raw = result.proposals
        if not isinstance(raw, tuple | list):
            raise _Refused(f"the tick's proposals are {type(raw).__name__}, not a sequence")
        admitted: list[Proposal] = []
        for index, p in enumerate(raw):
            try:
                admitted.append(self._admit(reg, p))
            except _Refused as exc:
                self._refuse(reg, now, str(exc), label=_label_of(p), index=index)
        if admitted and isinstance(agent, Accepting):
            agent.accept(admitted)
        return AgentTickResult(result.observation, findings, tuple(admitted), reg.agent_id, now)

    def _findings(self, reg: Registration, raw: object, now: float) -> tuple[Finding, ...]:
        if not isinstance(raw, tuple | list):
            self._refuse(reg, now, f"findings are {type(raw).__name__}", event=FINDING_REFUSED)
            return ()
        good: list[Finding] = []
        for f in raw:
            why = _finding_problem(f)
            if why is None:
                good.append(f)
            else:
                self._refuse(reg, now, why, event=FINDING_REFUSED)
        return tuple(good)

    # -- one proposal ----------------------------------------------------------------------------
    def _admit(self, reg: Registration, p: object) -> Proposal:
        if type(p) is not Proposal:
            raise _Refused(f"{type(p).__name__} is not a Proposal")
        if p.agent not in ("", reg.agent_id):
            raise _Refused(
                f"the proposal claims agent {_text(p.agent)}; it came from {reg.agent_id!r}"
            )
        try:
            action = rebuild(p.action)
        except InvalidAction as exc:
            raise _Refused(f"malformed action: {exc}") from None
        justification = _justification(p.justification)
        findings = p.findings
        if not isinstance(findings, tuple) or any(_finding_problem(f) for f in findings):
            raise _Refused("the proposal's findings are not a tuple of well-formed Findings")
        confidence = p.confidence
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, numbers.Real)
            or not math.isfinite(confidence)
        ):
            raise _Refused(f"confidence must be a finite number, got {_text(confidence)}")
        label = self._label(reg, p.request_id)
        rid = self._new_id(reg)
        if label:
            self._labels[reg.agent_id].add(label)
        # built directly: dataclasses.replace costs ~20 us, and a scaler may propose thousands
        return Proposal(
            action, reg.agent_id, reg.priority, justification, float(confidence), rid, findings
        )

    def _label(self, reg: Registration, label: object) -> str:
        if not isinstance(label, str):
            raise _Refused(f"request id must be a string, got {type(label).__name__}")
        if not label:
            return ""
        if label in self._issued:
            raise _Refused(f"label {_text(label)} squats a request id the runtime issued")
        for other in self.registered:
            if other != reg.agent_id and _in_namespace(label, other):
                if _in_namespace(label, reg.agent_id) and len(reg.agent_id) >= len(other):
                    continue  # "scaling-2/..." is scaling-2's, though it starts with "scaling"
                raise _Refused(f"label {_text(label)} is in agent {other!r}'s namespace")
        if label in self._labels[reg.agent_id]:
            raise _Refused(f"label {_text(label)} was used before by this agent (a replay)")
        return label

    def _new_id(self, reg: Registration) -> str:
        rid = f"{reg.agent_id}/{new_token()}"
        if rid in self._issued:
            raise _Refused(f"request id collision on {rid!r}; refused rather than merged")
        self._issued.add(rid)
        return rid

    # -- the audit -------------------------------------------------------------------------------
    def _refuse(
        self,
        reg: Registration,
        now: float,
        reason: str,
        *,
        label: str = "",
        index: int | None = None,
        event: str = REFUSED,
    ) -> None:
        self.refusals += 1
        data: dict[str, Any] = {"agent": reg.agent_id, "reason": reason[:_TEXT_LIMIT]}
        if label:
            data["label"] = label[:_TEXT_LIMIT]
        if index is not None:
            data["index"] = index
        self.audit.append(event, actor="runtime", at_s=now, data=data)


def _in_namespace(label: str, agent_id: str) -> bool:
    return label.startswith(agent_id) and label[len(agent_id) : len(agent_id) + 1] in _SEPARATORS


def _label_of(p: object) -> str:
    label = p.request_id if type(p) is Proposal else ""
    return label if isinstance(label, str) else ""


def _finding_problem(f: object) -> str | None:
    if type(f) is not Finding:
        return f"{type(f).__name__} is not a Finding"
    if not isinstance(f.kind, str) or not isinstance(f.target, str):
        return "a finding's kind and target must be strings"
    sev = f.severity
    if isinstance(sev, bool) or not isinstance(sev, numbers.Real) or not math.isfinite(sev):
        return f"a finding's severity must be a finite number, got {_text(sev)}"
    return None


def _justification(j: object) -> Justification:
    if type(j) is not Justification:
        raise _Refused(f"justification is {type(j).__name__}, not a Justification")
    if not isinstance(j.reason, str) or not isinstance(j.expected_effect, str):
        raise _Refused("a justification's reason and expected effect must be strings")
    if not isinstance(j.inputs, dict):
        raise _Refused(f"justification inputs are {type(j.inputs).__name__}, not a dict")
    if all(type(k) is str and type(v) in _SCALARS for k, v in j.inputs.items()):
        return j  # the common case, and it serialises: no need to try
    try:  # the audit log will store them: they must serialise (no cycles, no hostile __str__)
        json.dumps(j.inputs, default=_plain)
    except Exception as exc:  # whatever breaks serialisation is a refusal
        raise _Refused(f"justification inputs cannot be recorded: {_describe(exc)}") from None
    return j


def _plain(value: Any) -> Any:
    # what the audit log does with values JSON has no form for (NumPy scalars and arrays, sets)
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item()
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a hostile __str__
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}"[:_TEXT_LIMIT]


def _text(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    return text[:80]
