"""The plainest possible views over the same rows, measured beside the project's pages in the same run:
a Django ``ListView`` with its ``Paginator`` (COUNT and OFFSET) and a DRF ``ModelViewSet`` with
``PageNumberPagination`` and a ``ModelSerializer`` of every field."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView
from rest_framework import pagination, serializers, viewsets

from disputes.models import Dispute
from refunds.models import Refund

RELATED = ("reason_code", "assignee", "payment__customer", "payment__invoice")


class PlainDisputeList(LoginRequiredMixin, ListView):
    template_name = "bench/plain_list.html"
    paginate_by = 25

    def get_queryset(self):
        return Dispute.objects.select_related(*RELATED).order_by("internal_due_at", "id")


class PlainRefundList(LoginRequiredMixin, ListView):
    template_name = "bench/plain_refunds.html"
    paginate_by = 25

    def get_queryset(self):
        return Refund.objects.select_related("payment__customer", "requester", "assignee").order_by(
            "-created_at", "-id")


class _Pages(pagination.PageNumberPagination):
    page_size = 25


class PlainDisputeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dispute
        fields = "__all__"


class PlainDisputeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PlainDisputeSerializer
    pagination_class = _Pages
    filter_backends: list = []

    def get_queryset(self):
        return Dispute.objects.order_by("internal_due_at", "id")


class PlainRefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = "__all__"


class PlainRefundViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PlainRefundSerializer
    pagination_class = _Pages
    filter_backends: list = []

    def get_queryset(self):
        return Refund.objects.order_by("-created_at", "-id")
