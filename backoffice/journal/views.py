"""Asking for a verification run from the audit page (the run itself is a task)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from backoffice.actors import actor_label
from backoffice.queueing import enqueue_now
from backoffice.roles.predicates import is_auditor, is_team_lead

from .tasks import verify_incremental


@login_required
@require_POST
def audit_verify_request(request):
    if not (is_team_lead(request.user) or is_auditor(request.user)):
        return render(request, "403.html", {"message": "Only team leads and auditors verify the journal."},
                      status=403)
    if enqueue_now(verify_incremental, f"user:{actor_label(request.user)}"[:32]):
        messages.success(request, "Verification started: the result appears here when it has run.")
    else:
        messages.error(request, "The task queue cannot be reached; the scheduled verification will run later.")
    return redirect("audit")
