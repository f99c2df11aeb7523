"""Comments and attachments are part of a case's record (evidence, what was said and when): the admin shows
them and changes nothing, for superusers too. They are written by the case services only."""

from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin

from .models import Attachment, Comment


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "content_type", "object_id", "author"]
    list_select_related = ["author", "content_type"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "original_name", "mime_type", "size", "uploaded_by"]
    list_select_related = ["uploaded_by"]
    readonly_fields = ["sha256", "size", "mime_type", "original_name", "file"]
