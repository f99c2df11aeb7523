"""``/api/v1/disputes/``: list, retrieve, create, transitions, history, evidence and the packet PDF."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import re_path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from backoffice.api.fields import MinorUnitsField, PDFRenderer
from backoffice.api.idempotency import idempotent_create
from backoffice.api.viewsets import CaseViewSet, UserRefField
from backoffice.errors import InvalidInput
from backoffice.money import format_minor
from backoffice.parsing import WindowDateTimeField

from .filters import DisputeFilter
from .models import Dispute, DisputeStage, EvidenceItem, EvidenceKind, Network
from .packet import dispute_packet_pdf
from .selectors import dispute_checklist, dispute_list, payment_find
from .services import dispute_create, evidence_add


class DisputeOutputSerializer(serializers.ModelSerializer):
    assignee = UserRefField(read_only=True)
    payment = serializers.IntegerField(source="payment_id", read_only=True)
    reason_code = serializers.CharField(source="reason_code.code", read_only=True)
    reason_title = serializers.CharField(source="reason_code.title", read_only=True)
    reason_category = serializers.CharField(source="reason_code.category", read_only=True)
    amount_display = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    invoice = serializers.CharField(source="payment.invoice.number", read_only=True)
    required_evidence = serializers.SerializerMethodField()
    missing_evidence = serializers.SerializerMethodField()
    evidence_checklist = serializers.SerializerMethodField()
    evidence_completeness = serializers.SerializerMethodField()
    packet_url = serializers.SerializerMethodField()
    internal_due_in_seconds = serializers.SerializerMethodField(
        help_text="Seconds until the internal due date; negative once it has passed.")

    class Meta:
        model = Dispute
        fields = [
            "id", "reference", "state", "assignee", "created_at", "updated_at", "payment", "customer", "invoice",
            "amount_minor", "currency", "amount_display", "network", "reason_code", "reason_title",
            "reason_category", "stage", "due_at", "internal_due_at", "internal_due_in_seconds", "psp", "psp_dispute_id",
            "required_evidence", "missing_evidence", "evidence_checklist", "evidence_completeness",
            "evidence_overridden", "submitted_at", "resolved_at", "escalated_at", "packet_sha256", "packet_url",
            "over_captured_at", "over_captured_minor",
        ]
        read_only_fields = fields

    def _checklist(self, obj: Dispute):
        cached = getattr(obj, "_api_checklist", None)
        if cached is None:
            cached = obj._api_checklist = dispute_checklist(dispute=obj)
        return cached

    def get_internal_due_in_seconds(self, obj: Dispute) -> int | None:
        if obj.internal_due_at is None:
            return None
        return int((obj.internal_due_at - timezone.now()).total_seconds())

    def get_amount_display(self, obj: Dispute) -> str:
        return format_minor(obj.amount_minor, obj.currency)

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_customer(self, obj: Dispute):
        customer = obj.payment.customer
        return {"id": customer.pk, "name": customer.name}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_required_evidence(self, obj: Dispute) -> list[str]:
        """Every evidence kind that counts towards the reason code's checklist (see evidence_checklist)."""
        return self._checklist(obj).required

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_missing_evidence(self, obj: Dispute) -> list[str]:
        """Kinds of every unmet checklist line; for "a or b" lines both are listed (either would do)."""
        return self._checklist(obj).missing

    @extend_schema_field({"type": "array", "items": {"type": "object", "properties": {
        "any_of": {"type": "array", "items": {"type": "string"}}, "satisfied": {"type": "boolean"}}}})
    def get_evidence_checklist(self, obj: Dispute):
        return [{"any_of": list(line.requirement.kinds), "satisfied": line.satisfied}
                for line in self._checklist(obj).lines]

    def get_evidence_completeness(self, obj: Dispute) -> int:
        return self._checklist(obj).percent

    @extend_schema_field(OpenApiTypes.URI)
    def get_packet_url(self, obj: Dispute) -> str:
        request = self.context.get("request")
        path = f"/api/v1/disputes/{obj.pk}/packet.pdf"
        return request.build_absolute_uri(path) if request is not None else path


class DisputeCreateInputSerializer(serializers.Serializer):
    payment = serializers.CharField(max_length=64, help_text="Payment id, or the PSP's charge reference.")
    amount_minor = MinorUnitsField()
    currency = serializers.CharField(max_length=3, min_length=3)
    network = serializers.ChoiceField(choices=Network.choices, required=False,
                                      help_text="Defaults to the payment's card network.")
    reason_code = serializers.CharField(max_length=32, help_text='The network\'s code, e.g. "13.1", "4853".')
    psp = serializers.CharField(max_length=16, required=False, help_text="Defaults to the payment's PSP.")
    psp_dispute_id = serializers.CharField(max_length=64)
    stage = serializers.ChoiceField(choices=DisputeStage.choices, default=DisputeStage.CHARGEBACK,
                                    help_text="inquiry starts in state inquiry; any later stage in needs_response.")
    due_at = WindowDateTimeField(day_end=True, required=False, allow_null=True,
                                       help_text="The PSP's respond-by; default: the network's window.")


class EvidenceInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EvidenceKind.choices)
    text = serializers.CharField(required=False, allow_blank=True, max_length=20_000, default="")
    file = serializers.FileField(required=False, allow_null=True)


class EvidenceOutputSerializer(serializers.ModelSerializer):
    added_by = serializers.CharField(source="added_by.username", read_only=True)

    class Meta:
        model = EvidenceItem
        fields = ["id", "dispute", "kind", "text", "original_name", "mime_type", "size", "sha256", "stage",
                  "added_by", "created_at"]
        read_only_fields = fields


class DisputeViewSet(mixins.CreateModelMixin, CaseViewSet):
    case_type_key = "disputes"
    serializer_class = DisputeOutputSerializer
    filterset_class = DisputeFilter

    def get_queryset(self):
        return dispute_list(user=self.request.user, with_evidence=True)

    @extend_schema(request=DisputeCreateInputSerializer, responses={201: DisputeOutputSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        return idempotent_create(request, endpoint="disputes", create=lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        payload = DisputeCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        payment = payment_find(reference=data["payment"])
        if payment is None:
            raise InvalidInput(f"No payment has the id or PSP reference '{data['payment']}'.",
                               code="payment_not_found")
        dispute = dispute_create(
            actor=request.user, payment=payment, amount_minor=data["amount_minor"], currency=data["currency"],
            network=data.get("network") or payment.network or Network.OTHER, reason_code=data["reason_code"],
            psp=data.get("psp") or payment.psp, psp_dispute_id=data["psp_dispute_id"],
            due_at=data.get("due_at"), stage=data["stage"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=dispute.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": EvidenceInputSerializer},
                   responses={201: EvidenceOutputSerializer})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def evidence(self, request: Request, pk: str) -> Response:
        dispute = self.get_object()
        payload = EvidenceInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item = evidence_add(dispute_id=dispute.pk, actor=request.user, kind=payload.validated_data["kind"],
                            text=payload.validated_data.get("text", ""),
                            upload=payload.validated_data.get("file"))
        return Response(EvidenceOutputSerializer(item).data, status=status.HTTP_201_CREATED)

    # Routed below without the router: the contract's path has no trailing slash.
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def packet(self, request: Request, pk: str) -> HttpResponse:
        """The submitted evidence packet; before submission, a fresh preview (``X-Packet-Preview: true``)."""
        dispute = self.get_object()
        pdf, is_preview = dispute_packet_pdf(dispute=dispute)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{dispute.reference}-evidence-packet.pdf"'
        response["X-Packet-Preview"] = "true" if is_preview else "false"
        if dispute.packet_sha256 and not is_preview:
            response["X-Packet-SHA256"] = dispute.packet_sha256
        return response


router = SimpleRouter()
router.register("disputes", DisputeViewSet, basename="dispute")

urlpatterns = [
    re_path(r"^disputes/(?P<pk>\d+)/packet\.pdf$",
            DisputeViewSet.as_view({"get": "packet"}, renderer_classes=[JSONRenderer, PDFRenderer], detail=True),
            name="dispute-packet"),
    *router.urls,
]
