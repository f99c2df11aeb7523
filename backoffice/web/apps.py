from django.apps import AppConfig


class Config(AppConfig):
    name = "backoffice.web"
    label = "web"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_remember_profile, dispatch_uid="web.remember_profile")


def _remember_profile(sender, request, user, **kwargs) -> None:
    """At login, keep the profile's locale and time zone in the session (no query per page)."""
    from .models import Profile
    from .preferences import remember

    if request is None or not hasattr(request, "session"):
        return
    profile = Profile.objects.filter(user=user).first()
    remember(request, locale=profile.locale if profile else "", time_zone=profile.time_zone if profile else "")
