"""Break and settlement-import endpoints under /api/v1/: thin views over the selectors and services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from backoffice.api.permissions import CaseAccess
from backoffice.api.viewsets import CaseViewSet, UserRefField
from backoffice.errors import InvalidInput, PermissionDenied
from backoffice.roles.predicates import is_team_lead

from .filters import BreakFilter
from .imports import settlement_import
from .models import Break, BreakKind, SettlementImport
from .selectors import break_list, settlement_import_list


class BreakOutputSerializer(serializers.ModelSerializer):
    # Plain strings in the schema (their values are listed in the help text): the enum names ``kind`` and
    # ``psp`` are taken by other components.
    kind = serializers.CharField(read_only=True, help_text="One of: " + ", ".join(BreakKind.values))
    psp = serializers.CharField(read_only=True, help_text="stripe or adyen")
    assignee = UserRefField(read_only=True)
    requester = UserRefField(read_only=True)
    age_days = serializers.IntegerField(read_only=True)
    settlement_import = serializers.IntegerField(source="settlement_import_id", read_only=True)
    payment = serializers.IntegerField(source="payment_id", read_only=True)

    class Meta:
        model = Break
        fields = [
            "id", "reference", "state", "assignee", "created_at", "updated_at", "due_at", "kind", "psp",
            "psp_reference", "amount_minor", "currency", "age_days", "expected_minor", "reported_minor", "detail",
            "settlement_import", "payment", "resolution", "write_off_reason", "requester", "closed_at",
        ]
        read_only_fields = fields


class BreakViewSet(CaseViewSet):
    """Breaks: list (filters ``kind``, ``state``, ``psp``, ``currency``, ``age``, ``q`` = PSP reference …),
    retrieve, ``transitions/<name>/`` (``resolve`` takes ``resolution``), ``history/``, ``claim/``,
    ``assign/``, ``comments/``."""

    case_type_key = "breaks"
    serializer_class = BreakOutputSerializer
    filterset_class = BreakFilter

    def get_queryset(self):
        return break_list(user=self.request.user)


class SettlementImportSerializer(serializers.ModelSerializer):
    psp = serializers.CharField(read_only=True, help_text="stripe or adyen")
    imported_by = UserRefField(read_only=True)
    break_count = serializers.IntegerField(read_only=True)
    match_rate = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SettlementImport
        fields = ["id", "psp", "file_name", "sha256", "batch_id", "source", "imported_by", "line_count",
                  "matchable_count", "matched_count", "break_count", "auto_resolved_count", "match_rate",
                  "period_start", "period_end", "created_at"]
        read_only_fields = fields


class SettlementImportInputSerializer(serializers.Serializer):
    psp = serializers.CharField(max_length=16, help_text="stripe or adyen")
    file = serializers.FileField()


class SettlementImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Settlement reports: list, retrieve, and import one (team leads; multipart ``psp``, ``file``)."""

    permission_classes = [CaseAccess]
    serializer_class = SettlementImportSerializer
    parser_classes = [MultiPartParser, FormParser]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return settlement_import_list(user=self.request.user)

    @extend_schema(request={"multipart/form-data": SettlementImportInputSerializer},
                   responses={201: SettlementImportSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        if not is_team_lead(request.user):
            raise PermissionDenied("Only team leads import settlement reports.")
        payload = SettlementImportInputSerializer(data=request.data)
        if not payload.is_valid():
            field, messages = next(iter(payload.errors.items()))
            raise InvalidInput(f"{field}: {messages[0]}", code="invalid")
        upload = payload.validated_data["file"]
        job = settlement_import(psp=payload.validated_data["psp"], binary=upload.file, file_name=upload.name,
                                actor=request.user, source="api")
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)


router = SimpleRouter()
router.register("breaks", BreakViewSet, basename="break")
router.register("settlement-imports", SettlementImportViewSet, basename="settlement-import")
urlpatterns = router.urls
