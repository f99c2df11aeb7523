"""Writes shared by every case type: references, claim and reassign, comments, attachments."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from backoffice.denials import refusals_recorded
from backoffice.errors import ConcurrentChange, InvalidInput, PermissionDenied
from backoffice.journal.services import journal_record
from backoffice.parsing import refuse_card_numbers
from backoffice.roles.predicates import is_team_lead, is_worker

from .models import Attachment, Case, Comment
from .transitions import lock_case
from .uploads import check_upload


def case_assign_reference(*, case: Case) -> Case:
    """Give a freshly inserted case its human reference (``DSP-000123``). Call inside the create transaction."""
    if not case.reference:
        case.reference = case.format_reference(case.pk)
        type(case)._default_manager.filter(pk=case.pk).update(reference=case.reference)
    return case


def case_journal_created(*, case: Case, actor: Any, reason: str = "", context: dict | None = None) -> None:
    """The first row of a case's chain: ``create`` from nothing to its initial state."""
    journal_record(
        case_type=case.CASE_TYPE,
        case_id=case.pk,
        case_reference=case.reference or "",
        transition="create",
        source="",
        target=case.state,
        actor=actor,
        reason=reason,
        context=context or {},
    )


def case_claim(*, model: type[Case], pk: Any, actor: Any) -> Case:
    """The actor takes an unassigned case (a team lead may take any)."""
    with refusals_recorded(model=model, action="claim", actor=actor, pk=pk) as scope, transaction.atomic():
        case = scope.case = lock_case(model, pk)
        if not is_worker(actor):
            raise PermissionDenied("Only specialists and team leads claim cases.")
        if case.assignee_id == actor.pk:
            return case
        if case.assignee_id is not None and not is_team_lead(actor):
            raise ConcurrentChange(
                f"{case.reference} is already assigned to someone else.", code="already_assigned"
            )
        previous = case.assignee.get_username() if case.assignee_id else ""
        model._default_manager.filter(pk=case.pk).update(assignee=actor)
        case.assignee = actor
        journal_record(
            case_type=case.CASE_TYPE, case_id=case.pk, case_reference=case.reference or "",
            transition="claim", source=case.state, target=case.state, actor=actor,
            context={"from_assignee": previous, "to_assignee": actor.get_username()},
        )
        return case


def case_assign(*, model: type[Case], pk: Any, actor: Any, assignee_id: int | None, reason: str = "") -> Case:
    """A team lead reassigns a case (or unassigns it with ``assignee_id=None``)."""
    User = get_user_model()
    with refusals_recorded(model=model, action="reassign", actor=actor, pk=pk) as scope, transaction.atomic():
        case = scope.case = lock_case(model, pk)
        if not is_team_lead(actor):
            raise PermissionDenied("Only team leads reassign cases.")
        assignee = None
        if assignee_id is not None:
            assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
            if assignee is None or not is_worker(assignee):
                raise InvalidInput("Cases can be assigned only to active specialists or team leads.",
                                   code="invalid_assignee")
        if case.assignee_id == (assignee.pk if assignee else None):
            return case
        previous = case.assignee.get_username() if case.assignee_id else ""
        model._default_manager.filter(pk=case.pk).update(assignee=assignee)
        case.assignee = assignee
        journal_record(
            case_type=case.CASE_TYPE, case_id=case.pk, case_reference=case.reference or "",
            transition="reassign", source=case.state, target=case.state, actor=actor, reason=reason,
            context={"from_assignee": previous, "to_assignee": assignee.get_username() if assignee else ""},
        )
        return case


def case_comment_add(*, case: Case, author: Any, body: str) -> Comment:
    if not is_worker(author):
        with refusals_recorded(model=type(case), action="comment", actor=author, case=case):
            raise PermissionDenied("Auditors read cases; they do not comment on them.")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("A comment cannot be empty.", code="comment_empty")
    if len(body) > 10000:
        raise InvalidInput("A comment is limited to 10,000 characters.", code="comment_too_long")
    refuse_card_numbers(body, field="comment")
    return Comment.objects.create(
        content_type=ContentType.objects.get_for_model(case), object_id=case.pk, author=author, body=body
    )


def case_attachment_add(*, case: Case, uploaded_by: Any, upload: UploadedFile) -> Attachment:
    """Validate (size, type by content) before anything is stored; store under a generated name."""
    if not is_worker(uploaded_by):
        with refusals_recorded(model=type(case), action="attach", actor=uploaded_by, case=case):
            raise PermissionDenied("Auditors read cases; they do not upload files.")
    checked = check_upload(upload)
    attachment = Attachment(
        content_type=ContentType.objects.get_for_model(case),
        object_id=case.pk,
        uploaded_by=uploaded_by,
        original_name=checked.original_name,
        mime_type=checked.mime_type,
        size=checked.size,
        sha256=checked.sha256,
    )
    attachment.file.save(checked.original_name, upload, save=False)
    try:
        attachment.save()
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment
