from __future__ import annotations

from rest_framework import serializers

from backoffice.journal.models import JournalEntry
from backoffice.parsing import IdField


class JournalEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    source = serializers.CharField(source="source_state")
    target = serializers.CharField(source="target_state")

    class Meta:
        model = JournalEntry
        fields = [
            "id", "case_type", "case_id", "case_reference", "seq", "transition", "source", "target",
            "actor", "actor_id", "reason", "context", "created_at", "prev_hash", "hash",
        ]
        read_only_fields = fields


class TransitionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expected_state = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10000)


class AssignInputSerializer(serializers.Serializer):
    assignee = IdField(allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
