"""Performance round 2 (issue 16): kept unread counts on the conversation, and the unread
page's index in the page's exact order, pk tie-break included (ANALYZE-proof).

Depends on 0003 only: 0004 and 0005 come from other branches; the integrator orders the chain.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill_counts(apps, schema_editor):
    """The kept counts of existing conversations, counted once."""
    Conversation = apps.get_model("messaging", "Conversation")
    Message = apps.get_model("messaging", "Message")
    Notification = apps.get_model("messaging", "Notification")

    def unread(person):
        rows = (
            Message.objects.filter(conversation=OuterRef("pk"), receiver=OuterRef(person), read=False)
            .order_by().values("conversation").annotate(n=Count("pk")).values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    def notifications(person):
        rows = (
            Notification.objects.filter(message__conversation=OuterRef("pk"), user=OuterRef(person), read=False)
            .order_by().values("message__conversation").annotate(n=Count("pk")).values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    Conversation.objects.update(
        unread_low=unread("user_low"), unread_high=unread("user_high"),
        notif_low=notifications("user_low"), notif_high=notifications("user_high"),
    )


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0005_profile'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='message',
            name='msg_unread_receiver_idx',
        ),
        migrations.AddField(
            model_name='conversation',
            name='notif_high',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='conversation',
            name='notif_low',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='conversation',
            name='unread_high',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='conversation',
            name='unread_low',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('read', False)), fields=['receiver', '-timestamp', '-id'], name='msg_unread_page_idx'),
        ),
        migrations.RunPython(fill_counts, migrations.RunPython.noop, elidable=True),
    ]
