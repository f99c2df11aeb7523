"""Navigation: what each role sees in the top bar."""

from __future__ import annotations

from backoffice.roles.predicates import is_auditor, is_team_lead, is_worker

UNREAD_LIMIT = 99


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Rendering a queue table builds a second template context: compute the top bar once per request.
    cached = getattr(request, "_navigation_context", None)
    if cached is not None:
        return cached
    request._navigation_context = _navigation(user)
    return request._navigation_context


def _navigation(user):
    lead = bool(is_team_lead(user))
    worker = bool(is_worker(user))
    auditor = bool(is_auditor(user))
    queues = []
    if worker:
        queues += [("mine", "My cases"), ("unassigned", "Unassigned")]
    queues += [("due-soon", "Due soon"), ("overdue", "Overdue")]
    if lead:
        queues.append(("approvals", "Approvals"))
    queues.append(("all", "All"))
    from backoffice.notifications.models import Notification

    # Bounded: a COUNT over at most UNREAD_LIMIT + 1 rows, shown as "99+" beyond.
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)[: UNREAD_LIMIT + 1].count()
    roles = [label for flag, label in ((lead, "Team lead"), (worker and not lead, "Specialist"),
                                       (auditor, "Auditor")) if flag]
    return {
        "nav": {
            "queues": queues,
            "is_lead": lead,
            "is_worker": worker,
            "is_auditor": auditor,
            "can_audit": lead or auditor,
            "is_staff": user.is_staff,
            "roles": roles,
            "unread": unread,
            "unread_label": f"{UNREAD_LIMIT}+" if unread > UNREAD_LIMIT else str(unread),
        }
    }
