"""Which app applies which PSP event. The intake (verify, store, dedupe, order) knows no case type:
each app registers handlers for the event types it understands from its ``AppConfig.ready``::

    register(psp="stripe", event_types=["charge.dispute.created", …], handler=apply_stripe_dispute)

A handler gets the parsed event and, when a person linked an event of an unknown payment, that
payment's id; it runs inside the intake's transaction (which holds the event's row and the PSP
object's ordering cursor) and returns an ``Outcome``. It raises ``backoffice.errors.DomainError``
to refuse (the event is kept as ``failed`` with the message, for a person).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PspEvent:
    psp: str
    event_id: str
    type: str
    occurred_at: datetime
    object_id: str  # the PSP object the event is about (dispute, refund, charge …): its ordering key
    payment_reference: str  # the PSP's payment id named in the event, when there is one
    data: dict[str, Any]  # Stripe: ``data.object``; Adyen: the NotificationRequestItem
    raw: dict[str, Any] = field(default_factory=dict)  # the whole event / item


@dataclass(frozen=True)
class Outcome:
    status: str  # "applied", "ignored" or "unmatched" (an EventStatus value)
    detail: str = ""
    case_type: str = ""
    case_id: int | None = None
    case_reference: str = ""

    @classmethod
    def applied(cls, detail: str, case: Any = None) -> Outcome:
        return cls("applied", detail, *_case_fields(case))

    @classmethod
    def ignored(cls, detail: str, case: Any = None) -> Outcome:
        return cls("ignored", detail, *_case_fields(case))

    @classmethod
    def unmatched(cls, detail: str) -> Outcome:
        return cls("unmatched", detail)


def _case_fields(case: Any) -> tuple[str, int | None, str]:
    if case is None:
        return "", None, ""
    return getattr(case, "CASE_TYPE", ""), case.pk, getattr(case, "reference", "") or ""


class Handler(Protocol):
    def __call__(self, event: PspEvent, *, payment_id: int | None = None) -> Outcome: ...


_HANDLERS: dict[tuple[str, str], Callable[..., Outcome]] = {}


def register(*, psp: str, event_types: list[str] | tuple[str, ...], handler: Handler) -> None:
    for event_type in event_types:
        _HANDLERS[(psp, event_type)] = handler


def handler_for(psp: str, event_type: str) -> Callable[..., Outcome] | None:
    return _HANDLERS.get((psp, event_type))


def handled_types(psp: str) -> list[str]:
    return sorted(t for p, t in _HANDLERS if p == psp)
