"""Notifications: the list, mark one read, mark all read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from ... import actions, selectors
from ...access import get_notification_for
from .. import serializers as s
from ..schema import answers
from .base import ApiView, CursorListView


@extend_schema_view(
    get=extend_schema(
        operation_id="list_notifications", parameters=[s.NotificationPageQuery],
        responses=answers({200: s.NotificationPageSerializer}, 400), summary="Your notifications, newest first",
    )
)  # fmt: skip
class NotificationListView(CursorListView):
    page_of = staticmethod(selectors.notifications_page)
    page_serializer = s.NotificationPageSerializer
    query_serializer = s.NotificationPageQuery  # ?kind=, as the page's tabs


class NotificationReadView(ApiView):
    @extend_schema(
        operation_id="mark_notification_read", request=None, responses=answers({200: s.MarkedSerializer}, 403, 404),
        summary="Mark one notification read",
    )  # fmt: skip
    def post(self, request, notification_id):
        notification = get_notification_for(request.user, notification_id)
        return Response({"marked": actions.mark_notifications_read(request.user, ids=[notification.pk])})


class NotificationsReadAllView(ApiView):
    @extend_schema(
        operation_id="mark_all_notifications_read", request=None, responses=answers({200: s.MarkedSerializer}, 403),
        summary="Mark all your notifications read",
    )  # fmt: skip
    def post(self, request):
        return Response({"marked": actions.mark_notifications_read(request.user)})
