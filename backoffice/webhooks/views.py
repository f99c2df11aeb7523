"""``POST /webhooks/stripe/`` and ``POST /webhooks/adyen/`` (no session, no CSRF: the signature is
the authentication), and the webhook inbox for team leads."""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from backoffice.errors import DomainError
from backoffice.parsing import InvalidValue, id_or_none, parse_json, parse_page
from backoffice.roles.predicates import is_team_lead
from backoffice.web.errors import page_error_response

from .models import DeliveryVerdict, Psp
from .selectors import delivery_events, delivery_get, delivery_list, events_needing_a_person
from .services import (
    webhook_delivery_replay,
    webhook_event_link_payment,
    webhook_receive_adyen,
    webhook_receive_stripe,
)

PER_PAGE = 25

logger = logging.getLogger("backoffice.webhooks")


def _remote_addr(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@csrf_exempt
@require_POST
def stripe_endpoint(request):
    """2xx for every verified event (also a duplicate or one about an object we do not know), 400 when
    the signature, its timestamp or the body is refused. The delivery is stored either way."""
    result = webhook_receive_stripe(body=request.body, headers=request.headers, remote_addr=_remote_addr(request))
    if not result.accepted:
        return JsonResponse({"detail": result.message, "code": result.delivery.verdict,
                             "delivery": result.delivery.pk}, status=400)
    return JsonResponse({"received": True, "delivery": result.delivery.pk,
                         "results": [o.get("result") for o in result.delivery.outcomes]})


@csrf_exempt
@require_POST
def adyen_endpoint(request):
    """``[accepted]`` once the batch is stored and its valid items applied (refused items are kept in
    the inbox); 400 when no item's HMAC is valid or the body is not a notification batch."""
    result = webhook_receive_adyen(body=request.body, headers=request.headers, remote_addr=_remote_addr(request))
    if not result.accepted:
        return JsonResponse({"detail": result.message, "code": result.delivery.verdict,
                             "delivery": result.delivery.pk}, status=400)
    return HttpResponse("[accepted]", content_type="text/plain")


# ---------------------------------------------------------------- the inbox (team leads)

class _Page(list):
    """A page without COUNT over the whole set: one row more than shown tells whether there is a next."""

    def __init__(self, qs, number: str | None) -> None:
        self.number = parse_page(number)
        rows = list(qs[(self.number - 1) * PER_PAGE:self.number * PER_PAGE + 1])
        super().__init__(rows[:PER_PAGE])
        self.has_next = len(rows) > PER_PAGE
        self.has_previous = self.number > 1
        self.next_page_number = self.number + 1
        self.previous_page_number = self.number - 1


def _require_lead(request) -> None:
    if not is_team_lead(request.user):
        raise PermissionDenied


@login_required
@require_GET
def inbox(request):
    """``/webhooks/``: what needs a person (unmatched and refused events), then every delivery."""
    _require_lead(request)
    psp = request.GET.get("psp", "") if request.GET.get("psp", "") in Psp.values else ""
    verdict = request.GET.get("verdict", "") if request.GET.get("verdict", "") in DeliveryVerdict.values else ""
    page = _Page(delivery_list(psp=psp, verdict=verdict), request.GET.get("page"))
    pending = _Page(events_needing_a_person(), request.GET.get("open_page"))
    return render(request, "webhooks/inbox.html", {
        "page": page, "pending": pending, "psp": psp, "verdict": verdict, "psps": Psp.choices,
        "verdicts": DeliveryVerdict.choices,
    })


@login_required
@require_GET
def delivery_detail(request, pk: int):
    _require_lead(request)
    delivery = delivery_get(delivery_id=pk)
    if delivery is None:
        raise Http404("No such delivery")
    body = delivery.body_text
    try:
        body = json.dumps(parse_json(body), indent=2, sort_keys=False)
    except InvalidValue:
        pass
    return render(request, "webhooks/delivery.html", {
        "delivery": delivery, "body": body, "events": delivery_events(delivery=delivery),
        "replays": delivery.replays.order_by("-received_at")[:20],
    })


@login_required
@require_POST
def delivery_replay(request, pk: int):
    target = redirect("webhooks:delivery", pk=pk)
    try:
        replay = webhook_delivery_replay(delivery_id=pk, actor=request.user)
    except DomainError as err:
        return page_error_response(request, err, redirect_to=target)
    results = ", ".join(f"{o.get('type')}: {o.get('result')}" for o in replay.outcomes) or "nothing"
    messages.success(request, f"Delivery {pk} replayed as delivery {replay.pk} — {results}.")
    return redirect("webhooks:delivery", pk=replay.pk)


@login_required
@require_POST
def event_link(request, pk: int):
    """Link an unmatched event to a payment (our id, or the PSP's payment reference) and apply it."""
    from invoices.models import Payment

    target = redirect("webhooks:inbox")
    text = (request.POST.get("payment") or "").strip()
    payment = None
    if id_or_none(text) is not None:
        payment = Payment.objects.filter(pk=id_or_none(text)).first()
    if payment is None and text:
        payment = Payment.objects.filter(psp_reference=text[:64]).order_by("pk").first()
    if payment is None:
        messages.error(request, f"No payment {text!r}: give our payment id or the PSP's payment reference.")
        return target
    try:
        event = webhook_event_link_payment(event_id=pk, payment_id=payment.pk, actor=request.user)
    except DomainError as err:
        return page_error_response(request, err, redirect_to=target)
    if event.status in ("applied", "ignored"):
        messages.success(request, f"{event.event_type} linked to payment {payment.pk}: {event.detail}")
    else:
        messages.error(request, f"{event.event_type} linked to payment {payment.pk} but not applied: {event.detail}")
    return target
