"""Django's ModelBackend, loading the user's profile with the user (one query, a join):
every page shows names and times through it (templatetags/chat.py, middleware)."""

from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth import get_user_model


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id):
        user = get_user_model()._default_manager.select_related("profile").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
