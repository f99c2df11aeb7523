"""The project's URLs plus the baselines the bench compares against (never mounted in the product)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from backoffice.urls import urlpatterns as project_urls

from .baselines import PlainDisputeList, PlainDisputeViewSet, PlainRefundList, PlainRefundViewSet

router = SimpleRouter()
router.register("disputes", PlainDisputeViewSet, basename="plain-dispute")
router.register("refunds", PlainRefundViewSet, basename="plain-refund")

urlpatterns = [
    path("bench/plain/disputes/", PlainDisputeList.as_view()),
    path("bench/plain/refunds/", PlainRefundList.as_view()),
    path("bench/plain/api/", include(router.urls)),
    *project_urls,
]
