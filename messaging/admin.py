from django.contrib import admin

from . import actions
from .models import Conversation, Message, MessageHistory, Notification


@admin.action(description="Mark selected messages read")
def mark_messages_read(modeladmin, request, queryset):
    actions.set_messages_read(queryset, read=True)


@admin.action(description="Mark selected messages unread")
def mark_messages_unread(modeladmin, request, queryset):
    actions.set_messages_read(queryset, read=False)


@admin.action(description="Mark selected notifications read")
def mark_notifications_read(modeladmin, request, queryset):
    _set_notifications_read(queryset, read=True)


@admin.action(description="Mark selected notifications unread")
def mark_notifications_unread(modeladmin, request, queryset):
    _set_notifications_read(queryset, read=False)


def _set_notifications_read(queryset, *, read: bool):
    rows = list(queryset.values_list("message__conversation_id", "user_id"))
    queryset.update(read=read)
    # The kept counts (Conversation.notif_*) follow: counted again from the rows.
    actions.recount_unread({c for c, _ in rows}, people={u for _, u in rows})


class MessageHistoryInline(admin.TabularInline):
    model = MessageHistory
    extra = 0
    readonly_fields = ("old_content", "edited_at", "edited_by")
    can_delete = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "sender", "receiver", "short_content", "timestamp", "edited", "read", "parent_message_id")
    list_filter = ("read", "edited", "timestamp")
    search_fields = ("content", "sender__username", "receiver__username")
    list_select_related = ("sender", "receiver")
    raw_id_fields = ("sender", "receiver", "parent_message")
    readonly_fields = ("conversation", "edited")
    date_hierarchy = "timestamp"
    actions = [mark_messages_read, mark_messages_unread]
    inlines = [MessageHistoryInline]

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:60]

    def get_readonly_fields(self, request, obj=None):
        # A reply's parent is fixed once written (it must stay in its conversation).
        return (*self.readonly_fields, "parent_message") if obj else self.readonly_fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "user_low", "user_high", "last_message_at", "version")
    search_fields = ("user_low__username", "user_high__username")
    list_select_related = ("user_low", "user_high")
    raw_id_fields = ("user_low", "user_high")
    readonly_fields = ("version", "last_message_at")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "message_id", "created_at", "read")
    list_filter = ("read", "kind", "created_at")
    search_fields = ("user__username", "message__content")
    list_select_related = ("user",)
    raw_id_fields = ("user", "message")
    actions = [mark_notifications_read, mark_notifications_unread]


@admin.register(MessageHistory)
class MessageHistoryAdmin(admin.ModelAdmin):
    list_display = ("id", "message_id", "edited_by", "edited_at", "short_old_content")
    list_filter = ("edited_at",)
    search_fields = ("old_content", "edited_by__username")
    list_select_related = ("edited_by",)
    raw_id_fields = ("message", "edited_by")

    @admin.display(description="old content")
    def short_old_content(self, obj):
        return obj.old_content[:60]
