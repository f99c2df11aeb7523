"""Writes of the insight app: the audit access log and SLA targets."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from backoffice.actors import actor_label, actor_user_id
from backoffice.context import current_request_context
from backoffice.errors import InvalidInput

from .models import AuditAccess, SlaTarget


def audit_access_record(
    *,
    actor: Any,
    action: str,
    params: dict[str, Any] | None = None,
    case_type: str = "",
    case_id: int | None = None,
    result_rows: int | None = None,
) -> AuditAccess:
    """Record that ``actor`` looked at the audit trail (a search, an export, a case history)."""
    context = current_request_context()
    with transaction.atomic():
        return AuditAccess.objects.create(
            actor_id=actor_user_id(actor), actor_label=actor_label(actor), action=action, params=params or {},
            case_type=case_type, case_id=case_id, result_rows=result_rows,
            request_id=str(context.get("request_id", ""))[:64], ip=str(context.get("ip", ""))[:64],
        )


def sla_target_set(*, case_type: str, first_response_minutes: int, handle_minutes: int, actor: Any) -> SlaTarget:
    """Create or change the SLA target of a case type; the change is journaled like approval limits."""
    from backoffice.journal.services import journal_record

    if case_type not in SlaTarget.CaseType.values:
        raise InvalidInput(f"Unknown case type {case_type!r}.", code="invalid_case_type")
    if first_response_minutes <= 0 or handle_minutes <= 0:
        raise InvalidInput("Targets are positive numbers of minutes.", code="invalid_sla_target")
    with transaction.atomic():
        target = SlaTarget.objects.select_for_update().filter(case_type=case_type).first()
        before = (f"{target.first_response_minutes}/{target.handle_minutes}" if target else "")
        if target is None:
            target = SlaTarget(case_type=case_type)
        target.first_response_minutes = first_response_minutes
        target.handle_minutes = handle_minutes
        target.save()
        journal_record(
            case_type="sla_target", case_id=target.pk, case_reference=f"SLA-{case_type}", transition="set",
            source=before, target=f"{first_response_minutes}/{handle_minutes}", actor=actor,
            context={"case_type": case_type, "first_response_minutes": first_response_minutes,
                     "handle_minutes": handle_minutes},
        )
    return target
