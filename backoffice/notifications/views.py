from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from backoffice.parsing import InvalidValue, parse_id

from .selectors import notification_list
from .services import notification_mark_read


@login_required
def notifications(request):
    unread_only = request.GET.get("unread") == "1"
    page = Paginator(notification_list(user=request.user, unread_only=unread_only), 25).get_page(
        request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page, "unread_only": unread_only})


@login_required
@require_POST
def notifications_mark_read(request):
    try:
        ids = [parse_id(x, field="ids") for x in request.POST.getlist("ids")]
    except InvalidValue as err:
        messages.error(request, f"{err.message} ({err.code})")
        return redirect("notifications")
    count = notification_mark_read(user=request.user, ids=ids or None)
    messages.success(request, f"{count} notification(s) marked as read.")
    return redirect("notifications")
