"""Who works cases."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import Role


def workers(request: Any = None) -> QuerySet:
    """Active specialists and team leads, by username: who may be assigned a case or filtered by.
    (Takes an unused ``request`` so a django-filter ``ModelChoiceFilter`` can call it.)"""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[Role.SPECIALIST, Role.TEAM_LEAD])
        .distinct()
        .order_by("username")
    )
