"""Reads shared by every case page: the timeline (journal + comments), attachments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType

from backoffice.journal.selectors import journal_for_case

from .models import Attachment, Case, Comment


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "transition" or "comment"
    at: datetime
    actor: str
    title: str
    body: str
    obj: Any


def case_timeline(*, case: Case) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for entry in journal_for_case(case_type=case.CASE_TYPE, case_id=case.pk):
        if entry.source_state == entry.target_state or not entry.source_state:
            title = entry.transition.replace("_", " ")
        else:
            title = f"{entry.transition.replace('_', ' ')}: {entry.source_state} → {entry.target_state}"
        items.append(TimelineItem("transition", entry.created_at, entry.actor_label, title, entry.reason, entry))
    ct = ContentType.objects.get_for_model(case)
    for comment in Comment.objects.filter(content_type=ct, object_id=case.pk).select_related("author"):
        items.append(TimelineItem("comment", comment.created_at, comment.author.get_username(), "comment",
                                  comment.body, comment))
    items.sort(key=lambda i: i.at)
    return items


def case_attachments(*, case: Case):
    ct = ContentType.objects.get_for_model(case)
    return Attachment.objects.filter(content_type=ct, object_id=case.pk).select_related("uploaded_by").order_by(
        "created_at"
    )
