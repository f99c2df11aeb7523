"""Who acts: a user, or a labelled system actor such as ``system:celery`` or ``webhook:stripe``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SystemActor:
    """A non-human actor. It has no groups, so role predicates never match it by accident."""

    label: str
    is_system: bool = True
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False
    pk: None = None
    id: None = None

    @property
    def username(self) -> str:
        return self.label

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.label


CELERY = SystemActor("system:celery")
SYSTEM = SystemActor("system")
WEBHOOK_STRIPE = SystemActor("webhook:stripe")
WEBHOOK_ADYEN = SystemActor("webhook:adyen")
IMPORT_STRIPE = SystemActor("import:stripe")  # a dispute report uploaded by a team lead (named in the context)
IMPORT_ADYEN = SystemActor("import:adyen")


def actor_label(actor: Any) -> str:
    if actor is None:
        return "anonymous"
    if getattr(actor, "is_system", False):
        return actor.label
    return actor.get_username()


def actor_user_id(actor: Any) -> int | None:
    if actor is None or getattr(actor, "is_system", False):
        return None
    return actor.pk


def is_system(actor: Any) -> bool:
    return bool(getattr(actor, "is_system", False))
