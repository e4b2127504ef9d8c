"""Signal receivers. Each is a guard and one call to a named function in actions."""

from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import post_delete, post_save, pre_save

from . import actions
from .models import Conversation, Message


def message_pre_save(sender, instance: Message, raw=False, **kwargs):
    # Any edit (view, admin, shell) of a stored message keeps its old version.
    if raw or instance._state.adding or instance.pk is None:
        return
    actions.record_edit(instance)


def message_post_save(sender, instance: Message, created=False, raw=False, **kwargs):
    if raw:
        return
    actions.touch_conversation(instance, new_message=created)
    if created:
        actions.notify_receiver(instance)


def message_post_delete(sender, instance: Message, origin=None, **kwargs):
    # When a user or a whole conversation is deleted, the conversation goes too.
    if isinstance(origin, Message):
        actions.touch_conversation(instance, new_message=False)


def conversation_post_delete(sender, instance: Conversation, **kwargs):
    # Its cached pages must not be served to the other person either.
    actions.forget_conversation(instance)


def user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    # A new password (from any form, the admin or a shell) ends every session of the account.
    if raw or instance._state.adding or (update_fields is not None and "password" not in update_fields):
        return
    actions.end_sessions_if_password_changed(instance)


def user_post_save(sender, instance, created=False, raw=False, **kwargs):
    # Every user has a profile, however the user was made (sign-up, admin, shell, createsuperuser).
    if created and not raw:
        actions.create_profile(instance)


def user_logged_in(sender, request, user, **kwargs):
    # The browser's time zone (the `tz` cookie app.js sets) becomes the profile's, if it has none.
    if request is not None and request.COOKIES.get("tz"):
        actions.set_time_zone_if_unset(user, time_zone=request.COOKIES["tz"])


def user_post_delete(sender, instance, **kwargs):
    actions.forget_user(instance)


def connect():
    pre_save.connect(message_pre_save, sender=Message, dispatch_uid="message_pre_save")
    post_save.connect(message_post_save, sender=Message, dispatch_uid="message_post_save")
    post_delete.connect(message_post_delete, sender=Message, dispatch_uid="message_post_delete")
    post_delete.connect(conversation_post_delete, sender=Conversation, dispatch_uid="conversation_post_delete")
    pre_save.connect(user_pre_save, sender=get_user_model(), dispatch_uid="user_pre_save")
    post_save.connect(user_post_save, sender=get_user_model(), dispatch_uid="user_post_save")
    post_delete.connect(user_post_delete, sender=get_user_model(), dispatch_uid="user_post_delete")
    auth_signals.user_logged_in.connect(user_logged_in, dispatch_uid="user_logged_in_time_zone")
