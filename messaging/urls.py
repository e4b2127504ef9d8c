from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("unread-badge/", views.unread_badge, name="unread-badge"),
    path("compose/", views.compose, name="compose"),
    path("users/search/", views.user_search, name="user-search"),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation-detail"),
    path("conversations/<int:conversation_id>/messages/", views.conversation_messages, name="conversation-messages"),
    path("conversations/<int:conversation_id>/poll/", views.conversation_poll, name="conversation-poll"),
    path("messages/<int:message_id>/", views.message_detail, name="message-detail"),
    path("messages/<int:message_id>/reply/", views.message_reply, name="message-reply"),
    path("messages/<int:message_id>/edit/", views.message_edit, name="message-edit"),
    path("messages/<int:message_id>/history/", views.message_history, name="message-history"),
    path("messages/<int:message_id>/thread/", views.thread_detail, name="thread-detail"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read-all/", views.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="notification-read"),
    path("settings/", views.account_settings, name="settings"),
    path("goodbye/", views.goodbye, name="goodbye"),
]
