"""This app's REST routes, included under /api/v1/ (filled by the app)."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter()
urlpatterns = router.urls
