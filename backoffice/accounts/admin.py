from django.contrib import admin, messages

from backoffice.admin_mixins import ReadOnlyAdminMixin

from .models import ApiToken
from .services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tokens are listed by prefix only: the token itself is never stored, so nobody can read it here."""

    list_display = ["prefix", "user", "created_at", "expires_at", "last_used_at"]
    list_filter = ["expires_at"]
    search_fields = ["=user__username", "=prefix"]
    fields = ["prefix", "user", "created_at", "expires_at", "last_used_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = api_token_revoke(tokens=list(queryset))
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


# django-otp's own device admin shows each TOTP secret: replace it with one that never does.
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from .twofactor import otp_reset  # noqa: E402

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["=user__username"]
    fields = ["user", "name", "confirmed", "last_used_at"]
    readonly_fields = fields
    actions = ["reset"]

    def has_reset_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Reset two-factor sign-in (the user enrols again)", permissions=["reset"])
    def reset(self, request, queryset):
        count = otp_reset(users=[d.user for d in queryset])
        self.message_user(request, f"{count} device(s) removed; the users enrol again at their next sign-in.",
                          messages.SUCCESS)
