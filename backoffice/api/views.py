"""Token endpoint and the audit API."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django_filters import rest_framework as df
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.accounts.services import api_token_issue
from backoffice.accounts.twofactor import otp_check, otp_confirmed_device, otp_required_for
from backoffice.db.routers import use_replica
from backoffice.errors import InvalidInput, PermissionDenied
from backoffice.filtering import WindowDateTimeFilter
from backoffice.journal.models import JournalEntry
from backoffice.journal.selectors import journal_last_verification
from backoffice.journal.tasks import verify_incremental
from backoffice.queueing import enqueue_now

from .permissions import AuditAccess, VerifyRequestAccess
from .serializers import JournalEntrySerializer
from .throttling import LoginRateThrottle


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=1024)
    otp_token = serializers.CharField(required=False, max_length=16, help_text=(
        "The 6-digit code from the authenticator app; required for team leads and administrators when "
        "two-factor sign-in is enforced (production)."))


class TokenView(APIView):
    """A new API token, valid API_TOKEN_TTL_HOURS (12 by default); shown once, stored hashed.

    Sign-in failures count towards the account lockout (django-axes: 429 ``account_locked``) and
    the endpoint is throttled per client address (429 ``throttled``)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]

    @extend_schema(request=TokenInput, responses={
        200: inline_serializer("Token", {"token": serializers.CharField()}),
        400: inline_serializer("TokenRefused", {"detail": serializers.CharField(), "code": serializers.CharField()}),
        403: inline_serializer("TokenOtpEnrolment", {"detail": serializers.CharField(),
                                                     "code": serializers.CharField()}),
        429: inline_serializer("TokenLocked", {"detail": serializers.CharField(), "code": serializers.CharField()}),
    })
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request: django-axes records the failure and flags a lockout on it.
        user = authenticate(request._request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise InvalidInput("Unable to log in with these credentials.", code="invalid_credentials")
        if otp_required_for(user):
            if otp_confirmed_device(user) is None:
                raise PermissionDenied("Set up two-factor sign-in on the web first (sign in at /accounts/login/).",
                                       code="otp_enrolment_required")
            if otp_check(user=user, token=data.validated_data.get("otp_token", "")) is None:
                raise InvalidInput("A valid two-factor code (otp_token) is required for this account.",
                                   code="otp_required")
        _, key = api_token_issue(user=user)
        return Response({"token": key})


class JournalFilter(df.FilterSet):
    case_type = df.CharFilter(field_name="case_type")
    # Like the /audit/ page: any case, a prefix ("spec" finds spec1 and spec2, "system:" every system actor).
    actor = df.CharFilter(field_name="actor_label", lookup_expr="istartswith", max_length=150)
    since = WindowDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = WindowDateTimeFilter(field_name="created_at", lookup_expr="lt")
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


class VerifyProblemSerializer(serializers.Serializer):
    case_type = serializers.CharField()
    case_id = serializers.IntegerField()
    case_reference = serializers.CharField(allow_blank=True)
    seq = serializers.IntegerField()
    problem = serializers.CharField()


class VerifyResultSerializer(serializers.Serializer):
    intact = serializers.BooleanField(allow_null=True, help_text="null until a verification has run")
    rows = serializers.IntegerField(help_text="journal rows the run accounted for")
    rows_checked = serializers.IntegerField(help_text="rows re-hashed by the run")
    broken = VerifyProblemSerializer(many=True)
    mode = serializers.CharField(allow_null=True, help_text="incremental or full")
    checkpoint = serializers.IntegerField(allow_null=True, help_text="the signed checkpoint compared against")
    checked_at = serializers.DateTimeField(allow_null=True)


class AuditVerifyView(APIView):
    """The last chain verification (a task runs it every 10 minutes; POST asks for a run now)."""

    permission_classes = [AuditAccess]

    def get_permissions(self):
        if self.request.method == "POST":
            return [VerifyRequestAccess()]
        return super().get_permissions()

    @extend_schema(responses=VerifyResultSerializer)
    def get(self, request: Request) -> Response:
        last = journal_last_verification()
        if last is None:
            data = {"intact": None, "rows": 0, "rows_checked": 0, "broken": [], "mode": None, "checkpoint": None,
                    "checked_at": None}
        else:
            data = {"intact": last.intact, "rows": last.rows_total, "rows_checked": last.rows_checked,
                    "broken": [{k: p[k] for k in ("case_type", "case_id", "case_reference", "seq", "problem")}
                               for p in last.problems],
                    "mode": last.mode, "checkpoint": last.checkpoint_seq, "checked_at": last.finished_at}
        return Response(VerifyResultSerializer(data).data)

    @extend_schema(request=None, responses={
        202: inline_serializer("VerifyQueued", {"queued": serializers.BooleanField()}),
        503: inline_serializer("QueueUnavailable",
                               {"detail": serializers.CharField(), "code": serializers.CharField()}),
    })
    def post(self, request: Request) -> Response:
        if enqueue_now(verify_incremental, f"user:{request.user.get_username()}"[:32]):
            return Response({"queued": True}, status=202)
        return Response({"detail": "The task queue cannot be reached; the scheduled verification will run later.",
                         "code": "queue_unavailable"}, status=503)
