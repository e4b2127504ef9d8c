from django.contrib import admin
from django.contrib.auth import get_user_model

from . import actions, presence
from .models import Conversation, Message, MessageHistory, Notification, Profile


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
    list_display = ("id", "user", "kind", "actor", "conversation_id", "message_id", "created_at", "read")
    list_filter = ("read", "kind", "created_at")
    search_fields = ("user__username", "message__content")
    list_select_related = ("user", "actor")
    raw_id_fields = ("user", "actor", "conversation", "message")
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


@admin.action(description="Turn off “Show when I'm online”")
def hide_online(modeladmin, request, queryset):
    count = actions.hide_presence(queryset)
    modeladmin.message_user(request, f"Online status hidden for {count} people.")


@admin.action(description="Mark all their notifications read")
def mark_all_notifications_read(modeladmin, request, queryset):
    users = get_user_model().objects.filter(pk__in=queryset.values("pk"))
    count = sum(actions.mark_notifications_read(user) for user in users)
    modeladmin.message_user(request, f"{count} notifications marked read.")


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    """People with their presence and counts: one query for the page, however many rows
    (the counts are annotations: ProfileQuerySet.with_counts; presence one cache round trip)."""

    list_display = ("user", "display_name", "online", "last_seen", "message_count", "notification_count", "show_online", "notify_online", "time_zone")
    list_filter = ("show_online", "notify_online")
    search_fields = ("user__username", "display_name")
    readonly_fields = ("user", "last_seen")
    actions = [hide_online, mark_all_notifications_read]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # Everyone's presence on the page in one cache round trip, as the admin sees it
        # (whatever their switch: staff see the truth; the switch is about other users).
        users = [profile.user for profile in changelist.result_list]
        for profile, user in zip(changelist.result_list, users):
            user._state.fields_cache["profile"] = profile
        presence.attach_unfiltered(users)
        return changelist

    @admin.display(description="online", boolean=True)
    def online(self, obj):
        found = getattr(obj.user, "presence", None)
        return bool(found and found.online)

    @admin.display(description="messages sent", ordering="message_count")
    def message_count(self, obj):
        return obj.message_count

    @admin.display(description="notifications", ordering="notification_count")
    def notification_count(self, obj):
        return obj.notification_count
