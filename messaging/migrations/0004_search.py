"""Full-text search: an FTS5 table with its triggers on SQLite, a generated tsvector
column with a GIN index on PostgreSQL (messaging/search.py). Nothing in Django's model
state changes: the ORM never reads or writes these directly."""

from django.db import migrations


def create(apps, schema_editor):
    from messaging.search import create_index

    create_index(schema_editor)


def drop(apps, schema_editor):
    from messaging.search import drop_index

    drop_index(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_message_deleted_at"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
