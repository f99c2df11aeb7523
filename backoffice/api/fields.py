"""Fields every API shares: amounts in minor units, and PDFs as a response format."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework.renderers import BaseRenderer

from backoffice.money import MAX_MINOR
from backoffice.parsing import ParsedSerializerField, parse_amount_minor


@extend_schema_field({"type": "integer", "format": "int64", "maximum": MAX_MINOR})
class MinorUnitsField(ParsedSerializerField):
    """An amount in minor units (``backoffice.parsing.parse_amount_minor``): a JSON integer or ASCII
    digits, never a float (``12.0``), a decimal string or a number beyond 64 bits. Whether it must
    be positive is the service's rule (it answers with its own code, e.g. ``amount_not_positive``)."""

    def __init__(self, **kwargs):
        super().__init__(parse_amount_minor, parser_kwargs={"min_value": None, "max_value": MAX_MINOR}, **kwargs)


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
