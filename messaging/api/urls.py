from django.urls import path

from .schema import DocsView, SchemaView
from .views import account, conversations, messages, notifications, search

app_name = "api"

CONVERSATION = "v1/conversations/<int:conversation_id>/"
MESSAGE = "v1/messages/<int:message_id>/"

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
    path("v1/me/", account.MeView.as_view(), name="me"),
    path("v1/users/", account.UserSearchView.as_view(), name="user-search"),
    path("v1/conversations/", conversations.ConversationListView.as_view(), name="conversation-list"),
    path(f"{CONVERSATION}messages/", conversations.ConversationMessagesView.as_view(), name="conversation-messages"),
    path(f"{CONVERSATION}read/", conversations.ConversationReadView.as_view(), name="conversation-read"),
    path("v1/messages/", messages.MessageSendView.as_view(), name="message-list"),
    path("v1/messages/unread/", messages.UnreadView.as_view(), name="unread"),
    path(MESSAGE, messages.MessageDetailView.as_view(), name="message-detail"),
    path(f"{MESSAGE}thread/", messages.ThreadView.as_view(), name="message-thread"),
    path(f"{MESSAGE}history/", messages.HistoryView.as_view(), name="message-history"),
    path("v1/search/", search.SearchView.as_view(), name="search"),
    path("v1/notifications/", notifications.NotificationListView.as_view(), name="notification-list"),
    path("v1/notifications/read-all/", notifications.NotificationsReadAllView.as_view(), name="notifications-read-all"),
    path("v1/notifications/<int:notification_id>/read/", notifications.NotificationReadView.as_view(), name="notification-read"),
]
