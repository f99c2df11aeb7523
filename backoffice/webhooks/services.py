"""The webhook intake: verify, store, dedupe, order, then hand each event to the handler its app
registered (``backoffice.webhooks.registry``). It knows PSP envelopes, never case types.

Every delivery is stored first, in its own transaction, whatever its verdict. Then each event is
applied in a transaction of its own: its row is inserted under the unique (psp, event id) — a
concurrent copy waits on that insert and then sees a duplicate — the PSP object's ordering cursor
is locked, an event older than the newest one applied to that object is kept as ``stale`` without
moving anything, and the handler runs in a savepoint. A refusal (``DomainError``) leaves the event
``failed`` with the message; an event for a payment we do not know stays ``unmatched``. Both are
listed in the inbox, where a team lead links a payment or replays the delivery.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from backoffice.errors import ConcurrentChange, DomainError, InvalidInput, NotFound, PermissionDenied
from backoffice.parsing import (
    InvalidValue,
    mask_card_numbers,
    mask_card_numbers_bytes,
    mask_card_numbers_json,
    parse_datetime_value,
    parse_json,
)
from backoffice.roles.predicates import is_team_lead

from .models import (
    RETRYABLE_STATUSES,
    DeliveryVerdict,
    EventStatus,
    Psp,
    WebhookDelivery,
    WebhookEvent,
    WebhookObjectCursor,
)
from .registry import Outcome, PspEvent, handler_for
from .signatures import SignatureRefused, adyen_item_valid, stripe_verify

logger = logging.getLogger("backoffice.webhooks")

KEPT_OUT_HEADERS = {"cookie", "authorization", "proxy-authorization"}
CONCURRENT_ATTEMPTS = 3


@dataclass(frozen=True)
class IntakeResult:
    delivery: WebhookDelivery
    accepted: bool  # answer 2xx (the delivery was verified, at least in part)
    message: str = ""


# ---------------------------------------------------------------- parsing


def _from_unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return parse_datetime_value(datetime.fromtimestamp(value, tz=UTC), field="created")
    except (InvalidValue, OverflowError, OSError, ValueError):
        return None


def _ref(value: Any) -> str:
    """A PSP id that may come expanded as an object (``{"id": …}``) or as a string."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def stripe_parse(body: bytes) -> PspEvent:
    """A Stripe event (``{"id": "evt_…", "type", "created", "data": {"object": {…}}}``) → ``PspEvent``."""
    try:
        event = parse_json(body)
    except InvalidValue as exc:
        raise InvalidInput(f"The body is not acceptable JSON ({exc.reason})", code="malformed") from exc
    if not isinstance(event, dict):
        raise InvalidInput("The body is not a Stripe event.", code="malformed")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, event_type, created = event.get("id"), event.get("type"), _from_unix(event.get("created"))
    if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type
            and isinstance(obj, dict) and created is not None) or len(event_id) > 255 or len(event_type) > 64:
        raise InvalidInput("The body is not a Stripe event (id, type, created, data.object).", code="malformed")
    object_id = _ref(obj.get("id"))[:64]
    if obj.get("object") == "charge":
        payment_reference = object_id
    else:
        payment_reference = _ref(obj.get("charge")) or _ref(obj.get("payment_intent"))
    return PspEvent(psp=Psp.STRIPE, event_id=event_id, type=event_type, occurred_at=created, object_id=object_id,
                    payment_reference=payment_reference[:64], data=obj, raw=event)


def adyen_item_event(item: dict[str, Any]) -> PspEvent:
    """One Adyen NotificationRequestItem → ``PspEvent``; its identity is pspReference, eventCode,
    success and eventDate (a retried notification repeats all four)."""
    psp_reference = str(item.get("pspReference") or "")
    event_code = str(item.get("eventCode") or "")
    if not psp_reference or not event_code:
        raise InvalidInput("A notification item needs pspReference and eventCode.", code="malformed")
    event_date = str(item.get("eventDate") or "")
    try:
        occurred = parse_datetime_value(event_date, field="eventDate") if event_date else None
    except InvalidValue:
        occurred = None
    success = str(item.get("success") or "").lower()
    event_id = ":".join([psp_reference, event_code, success, event_date])[:255]
    return PspEvent(psp=Psp.ADYEN, event_id=event_id, type=event_code[:64], occurred_at=occurred or timezone.now(),
                    object_id=psp_reference[:64], payment_reference=str(item.get("originalReference") or "")[:64],
                    data=item, raw=item)


def adyen_items(body: bytes) -> list[Any]:
    try:
        payload = parse_json(body)
    except InvalidValue as exc:
        raise InvalidInput(f"The body is not acceptable JSON ({exc.reason})", code="malformed") from exc
    items = payload.get("notificationItems") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidInput("The body has no notificationItems.", code="malformed")
    return [entry.get("NotificationRequestItem") if isinstance(entry, dict) else None for entry in items]


# ---------------------------------------------------------------- storing


def _headers(headers: Any) -> dict[str, str]:
    return {str(k).replace("\x00", ""): str(v)[:2000].replace("\x00", "") for k, v in dict(headers).items()
            if str(k).lower() not in KEPT_OUT_HEADERS}  # PostgreSQL's jsonb refuses NUL


MASKED_NOTE = "Card numbers masked before storing: this copy can no longer be verified or replayed."


def _store(*, psp: str, body: bytes, headers: Any, remote_addr: str | None, verdict: str, detail: str = "",
           replay_of: WebhookDelivery | None = None, replayed_by: Any = None) -> WebhookDelivery:
    """Stored as received, except that a card number (anyone can POST to the endpoint) never is."""
    body, in_body = mask_card_numbers_bytes(body)
    kept: dict[str, str] = {}
    in_headers = 0
    for name, value in _headers(headers).items():
        kept[name], found = mask_card_numbers(value)
        in_headers += found
    if in_body or in_headers:
        detail = f"{detail[:300 - len(MASKED_NOTE) - 1]} {MASKED_NOTE}".strip()
        logger.warning("webhook_card_numbers_masked psp=%s count=%s", psp, in_body + in_headers)
    with transaction.atomic():
        return WebhookDelivery.objects.create(
            psp=psp, raw_body=body, headers=kept, remote_addr=remote_addr or None, verdict=verdict,
            verdict_detail=detail[:300], replay_of=replay_of, replayed_by=replayed_by,
        )


def _save_outcomes(delivery: WebhookDelivery, outcomes: list[dict[str, Any]]) -> None:
    delivery.outcomes = outcomes
    WebhookDelivery.objects.filter(pk=delivery.pk).update(outcomes=outcomes)


# ---------------------------------------------------------------- applying


def _claim(delivery: WebhookDelivery, event: PspEvent) -> tuple[WebhookEvent, bool]:
    """Insert the event's row, or lock the existing one (a concurrent insert waits for the first to commit)."""
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                psp=event.psp, event_id=event.event_id, event_type=event.type, object_id=event.object_id,
                payment_reference=event.payment_reference, occurred_at=event.occurred_at,
                payload=mask_card_numbers_json(event.raw)[0],
                delivery=delivery,
            )
            return row, True
    except IntegrityError:
        return WebhookEvent.objects.select_for_update().get(psp=event.psp, event_id=event.event_id), False


def _cursor_is_newer(event: PspEvent) -> WebhookObjectCursor | None:
    """Lock the object's cursor; return it when a newer event was already applied to the object."""
    if not event.object_id:
        return None
    try:
        with transaction.atomic():
            WebhookObjectCursor.objects.get_or_create(
                psp=event.psp, object_id=event.object_id,
                defaults={"last_occurred_at": event.occurred_at, "last_event_id": event.event_id},
            )
    except IntegrityError:
        pass  # created concurrently: lock it below
    cursor = WebhookObjectCursor.objects.select_for_update().get(psp=event.psp, object_id=event.object_id)
    if cursor.last_occurred_at > event.occurred_at:
        return cursor
    return None


def _advance_cursor(event: PspEvent) -> None:
    if event.object_id:
        WebhookObjectCursor.objects.filter(psp=event.psp, object_id=event.object_id,
                                           last_occurred_at__lte=event.occurred_at).update(
            last_occurred_at=event.occurred_at, last_event_id=event.event_id)


def _run_handler(event: PspEvent, payment_id: int | None) -> Outcome:
    handler = handler_for(event.psp, event.type)
    if handler is None:
        return Outcome.ignored(f"No handler for {event.type}: stored only.")
    for attempt in range(CONCURRENT_ATTEMPTS):
        try:
            with transaction.atomic():
                return handler(event, payment_id=payment_id)
        except ConcurrentChange:
            if attempt == CONCURRENT_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))  # someone is acting on the case right now: wait, then again
    raise AssertionError("unreachable")


def _apply(delivery: WebhookDelivery, event: PspEvent, *, payment_id: int | None = None, actor: Any = None,
           force: bool = False) -> dict[str, Any]:
    """Apply one event once; returns the delivery's outcome entry for it."""
    entry = {"event_id": event.event_id, "type": event.type, "object_id": event.object_id}
    with transaction.atomic():
        row, created = _claim(delivery, event)
        if not created:
            row.deliveries_seen += 1
            WebhookEvent.objects.filter(pk=row.pk).update(deliveries_seen=row.deliveries_seen)
            if row.status not in RETRYABLE_STATUSES and not force:
                return {**entry, "result": "duplicate", "detail": f"Already {row.status} (event {row.pk})."}
        payment_id = payment_id or row.payment_id
        newer = _cursor_is_newer(event)
        row.attempts += 1
        if newer is not None:
            row.status = EventStatus.STALE
            row.detail = (f"Older than {newer.last_event_id} ({newer.last_occurred_at:%Y-%m-%d %H:%M:%S} UTC), "
                          "already applied: kept, not applied.")
        else:
            try:
                outcome = _run_handler(event, payment_id)
            except DomainError as err:
                row.status, row.detail = EventStatus.FAILED, f"{err.code}: {err.message}"[:500]
            else:
                row.status, row.detail = outcome.status, outcome.detail[:500]
                if outcome.case_id is not None:
                    row.case_type, row.case_id = outcome.case_type, outcome.case_id
                    row.case_reference = outcome.case_reference
                if outcome.status == EventStatus.APPLIED:
                    row.applied_at = timezone.now()
                    _advance_cursor(event)
        if actor is not None and row.status in (EventStatus.APPLIED, EventStatus.IGNORED):
            row.resolved_by = actor
        if payment_id and row.payment_id != payment_id:
            row.payment_id = payment_id
        row.save()
    logger.info("webhook_event psp=%s event_id=%s type=%s status=%s", event.psp, event.event_id, event.type,
                row.status)
    return {**entry, "result": row.status, "detail": row.detail, "webhook_event": row.pk}


def _apply_safely(delivery: WebhookDelivery, event: PspEvent, **kwargs: Any) -> dict[str, Any]:
    """``_apply``, and never an unhandled exception: the delivery is stored, so an unexpected error is
    logged with its traceback and kept as ``failed`` for a person to replay (the PSP still gets 2xx)."""
    try:
        return _apply(delivery, event, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the intake's boundary: nothing a PSP sends may become a 500
        logger.exception("webhook_event_error psp=%s event_id=%s type=%s", event.psp, event.event_id, event.type)
        detail = f"internal_error: {type(exc).__name__}"
        try:
            WebhookEvent.objects.filter(psp=event.psp, event_id=event.event_id).update(
                status=EventStatus.FAILED, detail=detail)
        except DatabaseError:
            logger.exception("webhook_event_error_not_recorded event_id=%s", event.event_id)
        return {"event_id": event.event_id, "type": event.type, "object_id": event.object_id,
                "result": EventStatus.FAILED, "detail": detail}


# ---------------------------------------------------------------- entry points


def webhook_receive_stripe(*, body: bytes, headers: Any, remote_addr: str | None = None) -> IntakeResult:
    """``POST /webhooks/stripe/``: store, verify over the raw bytes, apply once."""
    verdict, detail, event = DeliveryVerdict.VERIFIED, "", None
    try:
        stripe_verify(payload=body, header=headers.get("Stripe-Signature"))
        event = stripe_parse(body)
    except SignatureRefused as err:
        verdict = {"not_configured": DeliveryVerdict.NOT_CONFIGURED,
                   "malformed": DeliveryVerdict.MALFORMED}.get(err.code, DeliveryVerdict.BAD_SIGNATURE)
        detail = str(err)
    except InvalidInput as err:
        verdict, detail = DeliveryVerdict.MALFORMED, err.message
    delivery = _store(psp=Psp.STRIPE, body=body, headers=headers, remote_addr=remote_addr, verdict=verdict,
                      detail=detail)
    if event is None:
        logger.warning("webhook_refused psp=stripe delivery=%s verdict=%s", delivery.pk, verdict)
        return IntakeResult(delivery, False, detail)
    _save_outcomes(delivery, [_apply_safely(delivery, event)])
    return IntakeResult(delivery, True)


def _adyen_apply_items(delivery: WebhookDelivery, items: list[Any], *, only: set[int] | None = None
                       ) -> tuple[list[dict[str, Any]], int]:
    outcomes, valid = [], 0
    for index, item in enumerate(items):
        if only is not None and index not in only:
            continue
        if not isinstance(item, dict) or not adyen_item_valid(item):
            outcomes.append({"item": index, "event_id": str((item or {}).get("pspReference") or "")
                             if isinstance(item, dict) else "", "type": str((item or {}).get("eventCode") or "")
                             if isinstance(item, dict) else "", "result": "refused",
                             "detail": "HMAC signature missing or wrong: not applied."})
            continue
        try:
            event = adyen_item_event(item)
        except InvalidInput as err:
            outcomes.append({"item": index, "event_id": "", "type": "", "result": "refused", "detail": err.message})
            continue
        valid += 1
        outcomes.append({"item": index, **_apply_safely(delivery, event)})
    return outcomes, valid


def webhook_receive_adyen(*, body: bytes, headers: Any, remote_addr: str | None = None) -> IntakeResult:
    """``POST /webhooks/adyen/``: store the batch, judge each item's HMAC alone, apply the valid ones."""
    from .signatures import adyen_keys

    try:
        items = adyen_items(body)
    except InvalidInput as err:
        delivery = _store(psp=Psp.ADYEN, body=body, headers=headers, remote_addr=remote_addr,
                          verdict=DeliveryVerdict.MALFORMED, detail=err.message)
        return IntakeResult(delivery, False, err.message)
    if not adyen_keys():
        message = "ADYEN_HMAC_KEY is not set: no notification can be verified."
        delivery = _store(psp=Psp.ADYEN, body=body, headers=headers, remote_addr=remote_addr,
                          verdict=DeliveryVerdict.NOT_CONFIGURED, detail=message)
        return IntakeResult(delivery, False, message)
    valid_indexes = {i for i, item in enumerate(items) if isinstance(item, dict) and adyen_item_valid(item)}
    if not valid_indexes:
        verdict, detail = DeliveryVerdict.BAD_SIGNATURE, "No item carries a valid HMAC signature."
    elif len(valid_indexes) < len(items):
        verdict = DeliveryVerdict.PARTIAL
        detail = f"{len(items) - len(valid_indexes)} of {len(items)} items refused (HMAC)."
    else:
        verdict, detail = DeliveryVerdict.VERIFIED, ""
    delivery = _store(psp=Psp.ADYEN, body=body, headers=headers, remote_addr=remote_addr, verdict=verdict,
                      detail=detail)
    outcomes, valid = _adyen_apply_items(delivery, items)
    _save_outcomes(delivery, outcomes)
    if not valid:
        return IntakeResult(delivery, False, detail)
    return IntakeResult(delivery, True)


# ---------------------------------------------------------------- people: replay, link


def _require_team_lead(actor: Any) -> None:
    if not is_team_lead(actor):
        raise PermissionDenied("Only team leads work the webhook inbox.")


def webhook_delivery_replay(*, delivery_id: int, actor: Any) -> WebhookDelivery:
    """Apply a stored delivery again (as a new delivery row pointing at it).

    Only a delivery that was accepted can be replayed; its signature is checked again (its age no
    longer matters). Events already applied answer ``duplicate``; unmatched or refused ones are tried
    again.
    """
    _require_team_lead(actor)
    original = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if original is None:
        raise NotFound(f"Delivery {delivery_id} does not exist.")
    if not original.accepted:
        raise InvalidInput(f"Delivery {delivery_id} was refused ({original.verdict}): there is nothing to replay.",
                           code="delivery_not_accepted")
    if MASKED_NOTE in original.verdict_detail:
        raise InvalidInput(f"Delivery {delivery_id} was stored with card numbers masked, so its signature cannot "
                           "be checked again: ask the PSP to send the event again.", code="delivery_masked")
    body = bytes(original.raw_body)
    if original.psp == Psp.STRIPE:
        try:
            stripe_verify(payload=body, header=original.headers.get("Stripe-Signature")
                          or original.headers.get("stripe-signature"), check_time=False)
            event = stripe_parse(body)
        except SignatureRefused as err:
            raise InvalidInput(f"The stored signature no longer verifies: {err}", code="bad_signature") from err
        delivery = _store(psp=original.psp, body=body, headers=original.headers, remote_addr=None,
                          verdict=DeliveryVerdict.VERIFIED, detail=f"Replay of delivery {original.pk}",
                          replay_of=original, replayed_by=actor)
        _save_outcomes(delivery, [_apply_safely(delivery, event, actor=actor)])
        return delivery
    items = adyen_items(body)
    delivery = _store(psp=original.psp, body=body, headers=original.headers, remote_addr=None,
                      verdict=original.verdict, detail=f"Replay of delivery {original.pk}", replay_of=original,
                      replayed_by=actor)
    outcomes, _ = _adyen_apply_items(delivery, items)
    _save_outcomes(delivery, outcomes)
    return delivery


def webhook_event_link_payment(*, event_id: int, payment_id: int, actor: Any) -> WebhookEvent:
    """A team lead says which payment an unmatched (or refused) event is about, and applies it."""
    from invoices.models import Payment

    _require_team_lead(actor)
    row = WebhookEvent.objects.filter(pk=event_id).select_related("delivery").first()
    if row is None:
        raise NotFound(f"Webhook event {event_id} does not exist.")
    if row.status not in (EventStatus.UNMATCHED, EventStatus.FAILED):
        raise InvalidInput(f"This event is '{row.status}': only unmatched or refused events can be linked.",
                           code="event_not_linkable")
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise InvalidInput(f"Payment {payment_id} does not exist.", code="unknown_payment")
    if payment.psp != row.psp:
        raise InvalidInput(f"Payment {payment_id} was taken by {payment.get_psp_display()}, not {row.psp}.",
                           code="payment_psp_mismatch")
    event = _event_from_row(row)
    _apply_safely(row.delivery, event, payment_id=payment.pk, actor=actor)
    row.refresh_from_db()
    return row


def _event_from_row(row: WebhookEvent) -> PspEvent:
    if row.psp == Psp.STRIPE:
        return stripe_parse(json.dumps(row.payload).encode())
    return adyen_item_event(row.payload)
