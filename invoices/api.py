"""``/api/v1/``: payment extensions (``extensions/``) and the read-only ledger (``invoices/``,
``customers/``). Thin views: input serializers validate shapes, services decide, selectors read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from backoffice.api.idempotency import idempotent_create
from backoffice.api.permissions import CaseAccess
from backoffice.api.viewsets import CaseViewSet, UserRefField
from backoffice.parsing import IdField, WindowDateField

from .filters import CustomerFilter, ExtensionFilter, InvoiceFilter
from .models import Customer, Invoice, PaymentExtension
from .selectors import customer_list, extension_list, invoice_list
from .services import REASON_MAX_CHARS, extension_request

# ---- payment extensions ------------------------------------------------------------------------


class ExtensionSerializer(serializers.ModelSerializer):
    assignee = UserRefField(read_only=True)
    requester = UserRefField(read_only=True)
    decided_by = UserRefField(read_only=True)
    invoice = serializers.IntegerField(source="invoice_id", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    customer = serializers.IntegerField(source="invoice.customer_id", read_only=True)
    customer_name = serializers.CharField(source="invoice.customer.name", read_only=True)
    currency = serializers.CharField(source="invoice.currency", read_only=True)
    original_due_date = serializers.DateField(read_only=True)
    deadline = serializers.DateTimeField(read_only=True)

    class Meta:
        model = PaymentExtension
        fields = [
            "id", "reference", "state", "assignee", "created_at", "updated_at",
            "invoice", "invoice_number", "customer", "customer_name", "currency",
            "new_due_date", "deadline", "reason", "original_due_at", "original_due_date", "days_requested",
            "due_at", "requester", "decided_by", "decided_at", "decision_reason", "closed_at",
            "customer_broke_promise_recently",
        ]
        read_only_fields = fields


class ExtensionCreateSerializer(serializers.Serializer):
    invoice = IdField()
    new_due_date = WindowDateField()
    reason = serializers.CharField(max_length=REASON_MAX_CHARS)


class ExtensionViewSet(CaseViewSet):
    """List (filters ``state``, ``assignee``, ``due_before``, ``due_after`` on the new due date,
    ``currency``, ``customer``, ``days_min``, ``days_max``, ``q``), retrieve, create with
    ``Idempotency-Key``, ``transitions/<approve|reject|cancel>/``, ``history/``."""

    case_type_key = "extensions"
    serializer_class = ExtensionSerializer
    filterset_class = ExtensionFilter

    def get_queryset(self):
        return extension_list(user=self.request.user)

    @extend_schema(
        request=ExtensionCreateSerializer,
        responses={201: ExtensionSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                     description="Same key and body returns the first result; another body is 422.")],
    )
    def create(self, request: Request) -> Response:
        def create_one() -> Response:
            payload = ExtensionCreateSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            extension = extension_request(actor=request.user, invoice=payload.validated_data["invoice"],
                                          new_due_date=payload.validated_data["new_due_date"],
                                          reason=payload.validated_data["reason"])
            created = self.get_queryset().get(pk=extension.pk)
            return Response(self.get_serializer(created).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, endpoint="extensions", create=create_one)


# ---- the ledger, read-only ----------------------------------------------------------------------


class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    paid_minor = serializers.IntegerField(read_only=True)
    amount_due_minor = serializers.IntegerField(read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "status", "currency", "amount_minor", "paid_minor", "amount_due_minor",
            "issued_at", "due_at", "paid_at", "dunning_paused", "customer", "customer_name", "created_at",
        ]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "email", "country", "default_currency", "external_id", "created_at"]
        read_only_fields = fields


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Invoices with ``paid_minor`` and ``amount_due_minor``; filters ``status``, ``currency``,
    ``customer``, ``due_before``, ``due_after``, ``q``."""

    permission_classes = [CaseAccess]
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return invoice_list(with_paid_minor=True)


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Customers; filters ``country``, ``currency``, ``q``."""

    permission_classes = [CaseAccess]
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return customer_list()


router = SimpleRouter()
router.register("extensions", ExtensionViewSet, basename="extension")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("customers", CustomerViewSet, basename="customer")
urlpatterns = router.urls
