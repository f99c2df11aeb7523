from django import template

register = template.Library()


@register.filter
def action_label(name: str) -> str:
    """``submit_evidence`` → ``Submit evidence``."""
    return str(name).replace("_", " ").capitalize()
