"""Who may do what on a dispute: one module, used by the transitions' permission callables, the
services (which refuse with its messages and codes) and the pages (which show only what is allowed).

Roles: billing specialists and team leads work disputes (enter, add evidence, edit the cover
letter, propose accepting liability); only team leads decide (accept, override the evidence
checklist, decline a proposal, edit cover letter templates, import dispute reports, move a
deadline by hand, decide disputes under review, reopen). The PSP (system) reports and decides
disputes and moves deadlines. Finance auditors read.
"""

from __future__ import annotations

from typing import Any

from backoffice.errors import PermissionDenied
from backoffice.roles.predicates import is_system, is_team_lead, is_worker


def _worker(user: Any) -> bool:
    return bool(is_worker(user))


def _lead(user: Any) -> bool:
    return bool(is_team_lead(user))


def _worker_or_system(user: Any) -> bool:
    return bool(is_worker(user) or is_system(user))


def _system_or_lead(user: Any) -> bool:
    return bool(is_system(user) or is_team_lead(user))


# action -> (who may, the refusal people read, its code)
ACTIONS: dict[str, tuple[Any, str, str]] = {
    "create": (_worker_or_system, "Auditors read disputes; they do not create them.", "permission_denied"),
    "add_evidence": (_worker, "Auditors read disputes; they do not add evidence.", "permission_denied"),
    "edit_cover_letter": (_worker, "Auditors read disputes; they do not edit cover letters.", "permission_denied"),
    "propose_accept": (_worker, "Auditors read disputes; they do not propose decisions.", "permission_denied"),
    "decide": (_lead, "Only team leads decide disputes.", "permission_denied"),
    "decline_accept_proposal": (_lead, "Only a team lead decides on accepting liability.", "permission_denied"),
    "override_checklist": (_lead, "Only a team lead may override the evidence checklist.",
                           "override_not_permitted"),
    "move_deadline": (_system_or_lead, "Only the PSP or a team lead moves a dispute's deadline.",
                      "permission_denied"),
    "edit_cover_letter_template": (_lead, "Only team leads edit cover letter templates.", "permission_denied"),
    "import_reports": (_lead, "Only team leads import dispute reports.", "permission_denied"),
    "resend_to_psp": (_lead, "Only a team lead may send evidence to the PSP again.", "permission_denied"),
}


def allows(action: str, user: Any) -> bool:
    """Whether ``user``'s role may take ``action`` (a key of ``ACTIONS``) on disputes."""
    return ACTIONS[action][0](user)


def refusal(action: str, user: Any) -> PermissionDenied | None:
    """The refusal for ``user`` taking ``action``, or None when they may."""
    may, message, code = ACTIONS[action]
    return None if may(user) else PermissionDenied(message, code=code)


def require(action: str, user: Any) -> None:
    """Raise the refusal for ``user`` taking ``action``, if any."""
    err = refusal(action, user)
    if err is not None:
        raise err


# Transition permissions: (instance, user) -> bool, checked by backoffice.cases.transitions.run_transition.
def may_respond(instance: Any, user: Any) -> bool:
    """open_chargeback, close_inquiry, submit_evidence: specialists, team leads and the PSP."""
    return _worker_or_system(user)


def may_accept(instance: Any, user: Any) -> bool:
    return _lead(user)


def may_expire(instance: Any, user: Any) -> bool:
    return bool(is_system(user))


def may_decide_outcome(instance: Any, user: Any) -> bool:
    """mark_won / mark_lost: the PSP always; a team lead not while the dispute still needs a response
    (from ``needs_response`` only the PSP decides)."""
    if is_system(user):
        return True
    return _lead(user) and instance.state != "needs_response"


def may_reopen(instance: Any, user: Any) -> bool:
    return _system_or_lead(user)
