from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.apps import AppConfig


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"

    def ready(self):
        from . import signals

        signals.connect()


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with its login rate limited like ours (messaging.admin_site)."""

    default_site = "messaging.admin_site.AdminSite"
