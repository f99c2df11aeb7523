from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("stripe/", views.stripe_endpoint, name="stripe"),
    path("adyen/", views.adyen_endpoint, name="adyen"),
]
