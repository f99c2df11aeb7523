"""Navigation: what each role sees in the top bar."""

from __future__ import annotations

from backoffice.roles.predicates import is_auditor, is_team_lead, is_worker


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
    from backoffice.notifications.selectors import UNREAD_CAP, notification_unread_count

    unread = notification_unread_count(user=user)  # bounded: shown as "99+" at the cap
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
            "unread_label": f"{UNREAD_CAP - 1}+" if unread >= UNREAD_CAP else str(unread),
        }
    }
