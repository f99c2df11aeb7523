"""The base every case API uses: list/retrieve from the app's selector and FilterSet, plus
``history/``, ``transitions/<name>/``, ``claim/``, ``assign/`` and ``comments/`` actions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backoffice.cases.registry import CaseTypeSpec, get_case_type
from backoffice.cases.services import case_assign, case_claim, case_comment_add
from backoffice.journal.selectors import journal_for_case

from .permissions import CaseAccess
from .serializers import (
    AssignInputSerializer,
    CommentInputSerializer,
    JournalEntrySerializer,
    TransitionInputSerializer,
)


class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Subclasses set ``case_type_key`` (the registry key), ``serializer_class``, ``filterset_class``
    and ``get_queryset`` (via the app's selector); transitions go to the registered service."""

    permission_classes = [CaseAccess]
    case_type_key = ""
    lookup_value_regex = r"\d+"

    @property
    def spec(self) -> CaseTypeSpec:
        spec = get_case_type(self.case_type_key)
        assert spec is not None, f"case type {self.case_type_key!r} is not registered"
        return spec

    @property
    def model(self) -> Any:
        return self.spec.model

    def _case_response(self, case_id: int) -> Response:
        case = self.get_queryset().get(pk=case_id)
        return Response(self.get_serializer(case).data)

    @extend_schema(request=TransitionInputSerializer, parameters=[
        OpenApiParameter("name", str, OpenApiParameter.PATH, description="transition name")])
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[a-z_]+)")
    def transitions(self, request: Request, pk: str, name: str) -> Response:
        case = self.get_object()
        payload = TransitionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        if payload.validated_data.get("expected_state"):
            data["expected_state"] = payload.validated_data["expected_state"]
        self.spec.transition(  # the case type's registered dispatcher (its services)
            case_id=case.pk, name=name, actor=request.user, reason=payload.validated_data["reason"], data=data
        )
        return self._case_response(case.pk)

    @extend_schema(responses=JournalEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str) -> Response:
        case = self.get_object()
        rows = journal_for_case(case_type=self.model.CASE_TYPE, case_id=case.pk)
        return Response(JournalEntrySerializer(rows, many=True).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        case = self.get_object()
        case_claim(model=self.model, pk=case.pk, actor=request.user)
        return self._case_response(case.pk)

    @extend_schema(request=AssignInputSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        case = self.get_object()
        payload = AssignInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        case_assign(model=self.model, pk=case.pk, actor=request.user,
                    assignee_id=payload.validated_data["assignee"], reason=payload.validated_data["reason"])
        return self._case_response(case.pk)

    @extend_schema(request=CommentInputSerializer, responses={201: None})
    @action(detail=True, methods=["post"])
    def comments(self, request: Request, pk: str) -> Response:
        case = self.get_object()
        payload = CommentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = case_comment_add(case=case, author=request.user, body=payload.validated_data["body"])
        return Response({"id": comment.pk, "body": comment.body, "created_at": comment.created_at},
                        status=status.HTTP_201_CREATED)


@extend_schema_field({
    "type": "object",
    "nullable": True,
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}},
})
class UserRefField(serializers.Field):
    """A user as ``{"id", "username"}`` on output."""

    def to_representation(self, value):
        return None if value is None else {"id": value.pk, "username": value.get_username()}
