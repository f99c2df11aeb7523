"""Token endpoint and the audit API."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django_filters import rest_framework as df
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.db.routers import use_replica
from backoffice.errors import InvalidInput
from backoffice.journal.models import JournalEntry
from backoffice.journal.selectors import journal_verify

from .permissions import AuditAccess
from .serializers import JournalEntrySerializer


class TokenInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "token"

    @extend_schema(request=TokenInput, responses=inline_serializer("Token", {"token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise InvalidInput("Unable to log in with these credentials.", code="invalid_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class JournalFilter(df.FilterSet):
    case_type = df.CharFilter(field_name="case_type")
    actor = df.CharFilter(field_name="actor_label")
    since = df.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = df.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    case_reference = df.CharFilter(field_name="case_reference")

    class Meta:
        model = JournalEntry
        fields = ["case_type", "actor", "since", "until", "case_reference"]


class AuditTransitionsView(generics.ListAPIView):
    permission_classes = [AuditAccess]
    serializer_class = JournalEntrySerializer
    filterset_class = JournalFilter

    @use_replica
    def list(self, request, *args, **kwargs):  # the audit trail may be read from the replica
        return super().list(request, *args, **kwargs)
    queryset = JournalEntry.objects.order_by("-created_at", "-id")


class AuditVerifyView(APIView):
    permission_classes = [AuditAccess]

    @extend_schema(responses=inline_serializer("Verify", {
        "intact": serializers.BooleanField(), "rows": serializers.IntegerField(),
        "broken": serializers.ListField(child=serializers.DictField())}))
    def get(self, request: Request) -> Response:
        broken = [
            {"case_type": b.case_type, "case_id": b.case_id, "case_reference": b.case_reference, "seq": b.seq,
             "problem": b.problem}
            for b in journal_verify()
        ]
        return Response({"intact": not broken, "rows": JournalEntry.objects.count(), "broken": broken})
