from django.urls import path

from .views import accounts, badge, conversations, events, inbox, messages, notifications, search

app_name = "messaging"

urlpatterns = [
    path("", inbox.inbox, name="inbox"),
    path("unread-badge/", badge.unread_badge, name="unread-badge"),
    path("events/", events.event_stream, name="events"),
    path("compose/", conversations.compose, name="compose"),
    path("users/search/", conversations.user_search, name="user-search"),
    path("conversations/<int:conversation_id>/", conversations.conversation_detail, name="conversation-detail"),
    path(
        "conversations/<int:conversation_id>/messages/",
        conversations.conversation_messages,
        name="conversation-messages",
    ),
    path("conversations/<int:conversation_id>/poll/", conversations.conversation_poll, name="conversation-poll"),
    path(
        "conversations/<int:conversation_id>/presence/",
        conversations.conversation_presence,
        name="conversation-presence",
    ),
    path("messages/<int:message_id>/", messages.message_detail, name="message-detail"),
    path("messages/<int:message_id>/reply/", messages.message_reply, name="message-reply"),
    path("messages/<int:message_id>/edit/", messages.message_edit, name="message-edit"),
    path("messages/<int:message_id>/delete/", messages.message_delete, name="message-delete"),
    path("messages/<int:message_id>/history/", messages.message_history, name="message-history"),
    path("messages/<int:message_id>/thread/", messages.thread_detail, name="thread-detail"),
    path("search/", search.search, name="search"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/read-all/", notifications.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:notification_id>/read/", notifications.notification_read, name="notification-read"),
    path("settings/", accounts.account_settings, name="settings"),
    path("settings/profile/", accounts.profile_settings, name="profile-settings"),
    path("settings/tokens/", accounts.api_tokens, name="api-tokens"),
    path("settings/tokens/revoke/", accounts.api_token_revoke, name="api-token-revoke"),
    path("settings/delete-account/", accounts.delete_user, name="delete-user"),
    path("goodbye/", accounts.goodbye, name="goodbye"),
]
