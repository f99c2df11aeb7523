from django.contrib import admin

from .models import Attachment, Comment


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "content_type", "object_id", "author"]
    list_select_related = ["author", "content_type"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "original_name", "mime_type", "size", "uploaded_by"]
    list_select_related = ["uploaded_by"]
    readonly_fields = ["sha256", "size", "mime_type", "original_name", "file"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False
