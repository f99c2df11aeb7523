"""``POST /webhooks/stripe/`` and ``POST /webhooks/adyen/`` (no session, no CSRF: the signature is
the authentication), and the webhook inbox for team leads."""

from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .services import webhook_receive_adyen, webhook_receive_stripe

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
