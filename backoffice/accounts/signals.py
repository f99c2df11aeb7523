from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .sessions import session_started


@receiver(user_logged_in)
def _stamp_session(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        session_started(request)
