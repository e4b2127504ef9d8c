from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.apps import AppConfig


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import search, signals

        signals.connect()
        connection_created.connect(search.register_sqlite_functions, dispatch_uid="dm-search-rank")
        post_migrate.connect(repair_search_index, sender=self, dispatch_uid="dm-search-repair")


def repair_search_index(sender, using="default", **kwargs):
    from django.db import connections

    from .search import repair_sqlite_index

    repair_sqlite_index(connections[using])


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with its login rate limited like ours (messaging.admin_site)."""

    default_site = "messaging.admin_site.AdminSite"
