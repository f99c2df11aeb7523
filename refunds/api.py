"""Refund and payment endpoints under /api/v1/: thin views over the selectors and services."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from backoffice.api.fields import MinorUnitsField, PDFRenderer
from backoffice.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from backoffice.api.idempotency import REPLAYED_HEADER
from backoffice.api.permissions import CaseAccess
from backoffice.api.viewsets import CaseViewSet, UserRefField
from backoffice.errors import InvalidInput
from backoffice.money import format_minor
from backoffice.parsing import IdField
from invoices.filters import PaymentFilter
from invoices.models import Payment

from .credit_note import credit_note_available, credit_note_number, credit_note_pdf
from .filters import RefundFilter
from .models import Refund, RefundReason
from .selectors import payment_list, refund_for_form_token, refund_get, refund_list
from .services import refund_request


class ApprovalOutputSerializer(serializers.Serializer):
    approver = UserRefField(read_only=True)
    step = serializers.IntegerField(read_only=True)
    decision = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class RefundOutputSerializer(serializers.ModelSerializer):
    assignee = UserRefField(read_only=True)
    requester = UserRefField(read_only=True)
    payment = serializers.IntegerField(source="payment_id", read_only=True)
    approvals = ApprovalOutputSerializer(many=True, read_only=True)
    amount_display = serializers.SerializerMethodField()
    credit_note = serializers.SerializerMethodField()

    class Meta:
        model = Refund
        fields = [
            "id", "reference", "state", "assignee", "created_at", "updated_at", "due_at", "payment", "amount_minor",
            "currency", "amount_display", "reason", "note", "requester", "approvals", "psp_refund_id",
            "psp_attempt", "failure_code", "failure_message", "submitted_at", "succeeded_at", "credit_note",
        ]
        read_only_fields = fields

    def get_amount_display(self, obj: Refund) -> str:
        return format_minor(obj.amount_minor, obj.currency)

    def get_credit_note(self, obj: Refund) -> str | None:
        """The credit note's number once the refund has succeeded (GET …/credit-note.pdf), else null."""
        return credit_note_number(refund=obj) if credit_note_available(refund=obj) else None


class RefundCreateInputSerializer(serializers.Serializer):
    payment = IdField()
    amount_minor = MinorUnitsField()
    currency = serializers.CharField(required=False, max_length=3, help_text="Optional; must be the payment's.")
    reason = serializers.ChoiceField(choices=RefundReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    confirm_duplicate = serializers.BooleanField(
        required=False, default=False,
        help_text="Set to true to request a second refund of the same amount on the same payment within 24 hours "
                  "(otherwise 409 possible_duplicate).")


class RefundViewSet(CaseViewSet):
    """Refunds: list (filters ``state``, ``assignee``, ``due_before``, ``due_after``, ``currency``, ``q`` …),
    retrieve, create (honours ``Idempotency-Key``), ``transitions/<name>/``, ``history/``, ``credit-note.pdf``."""

    case_type_key = "refunds"
    serializer_class = RefundOutputSerializer
    filterset_class = RefundFilter

    def get_queryset(self):
        return refund_list(user=self.request.user, with_approvals=True)

    @extend_schema(
        request=RefundCreateInputSerializer,
        responses={201: RefundOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                     description="The refund's idempotency key: the same key and refund (payment, "
                                                 "amount, reason, note) → the first refund; another one → 422.")],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        """The ``Idempotency-Key`` header is the refund's own ``idempotency_key`` (unique per requester in
        the database, checked by ``refund_request`` under the payment's lock): the same key with the same
        refund (payment, amount, reason, note) answers the first refund, with another one 422."""
        payload = RefundCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        payment = Payment.objects.filter(pk=data["payment"]).first()
        if payment is None:
            raise InvalidInput(f"Payment {data['payment']} does not exist.", code="unknown_payment")
        key = request.META.get(IDEMPOTENCY_HEADER, "").strip() or None
        replay = key is not None and refund_for_form_token(requester=request.user, token=key) is not None
        refund = refund_request(
            payment=payment, requester=request.user, amount_minor=data["amount_minor"], reason=data["reason"],
            note=data["note"], currency=data.get("currency"), confirm_duplicate=data["confirm_duplicate"],
            idempotency_key=key,
        )
        refund = refund_get(user=request.user, refund_id=refund.pk)
        response = Response(self.get_serializer(refund).data, status=status.HTTP_201_CREATED)
        if replay:
            response[REPLAYED_HEADER] = "true"
        return response

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
                              409: OpenApiResponse(description="The refund has not succeeded.")})
    def credit_note(self, request: Request, pk: str) -> HttpResponse:
        """``GET refunds/<id>/credit-note.pdf`` (routed below, without a trailing slash as the contract says)."""
        refund = self.get_object()
        pdf = credit_note_pdf(refund=refund)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{credit_note_number(refund=refund)}.pdf"'
        return response


class PaymentSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    refundable_minor = serializers.IntegerField(read_only=True,
                                                help_text="Captured minus committed refunds and lost disputes.")

    class Meta:
        model = Payment
        fields = [
            "id", "invoice", "invoice_number", "customer", "customer_name", "psp", "psp_reference", "method",
            "method_detail", "network", "card_last4", "amount_minor", "currency", "refundable_minor", "captured_at",
        ]
        read_only_fields = fields


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    """Payments, read-only, each with what is left to refund (one query per page, no N+1)."""

    permission_classes = [CaseAccess]
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return payment_list(user=self.request.user)


router = SimpleRouter()
router.register("refunds", RefundViewSet, basename="refund")
router.register("payments", PaymentViewSet, basename="payment")
urlpatterns = [
    re_path(r"^refunds/(?P<pk>\d+)/credit-note\.pdf$",
            RefundViewSet.as_view({"get": "credit_note"}, detail=True, renderer_classes=[JSONRenderer, PDFRenderer]),
            name="refund-credit-note-pdf"),
    *router.urls,
]
