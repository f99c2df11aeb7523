"""Fields every API shares: amounts in minor units, and PDFs as a response format."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer

from backoffice.money import MAX_MINOR


@extend_schema_field(OpenApiTypes.INT)
class MinorUnitsField(serializers.Field):
    """An amount in minor units: a JSON integer (or ASCII digits in a form), never a float (``12.0``),
    a decimal string or a number beyond 64 bits. Whether it must be positive is the service's rule
    (it answers with its own code, e.g. ``amount_not_positive``)."""

    default_error_messages = {
        "invalid": "Send a whole number of minor units, e.g. 1050 for 10.50 USD.",
        "max_value": "The amount is too large.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            text = data.strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 19):
                self.fail("invalid")
            data = int(text)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if abs(data) > MAX_MINOR:
            self.fail("max_value")
        return data

    def to_representation(self, value):
        return value


class PDFRenderer(BaseRenderer):
    """``application/pdf`` for views that return the PDF's bytes; an error body stays JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data, default=str).encode()
