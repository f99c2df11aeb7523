"""This app's pages (filled by the app)."""

app_name = "refunds"
urlpatterns: list = []
