"""One worker process of the transitions-per-second measurement: ``python -m bench.transitions_worker KIND IDS``.

Takes each case through one journaled transition with the project's own services and prints
``{"done", "failed", "seconds"}`` as JSON on its last line."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from backoffice.cases.services import case_claim
    from backoffice.errors import DomainError
    from disputes.models import Dispute
    from disputes.services import dispute_transition
    from refunds.models import Refund
    from refunds.services import refund_approve

    kind, ids = sys.argv[1], [int(x) for x in sys.argv[2].split(",") if x]
    users = get_user_model().objects
    spec = users.get(username=f"spec{1 + os.getpid() % 30:02d}")
    lead = users.get(username="lead01")
    done = failed = 0
    started = time.perf_counter()
    for pk in ids:
        try:
            if kind == "claim":
                case_claim(model=Dispute, pk=pk, actor=spec)
            elif kind == "accept":
                dispute_transition(case_id=pk, name="accept", actor=lead, reason="bench: accepted")
            else:
                refund = Refund.objects.get(pk=pk)
                approver = lead if refund.requester_id != lead.pk else users.get(username="lead02")
                refund_approve(refund=refund, actor=approver, reason="bench: approved", submit=False)
            done += 1
        except DomainError:
            failed += 1
    print(json.dumps({"done": done, "failed": failed, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
