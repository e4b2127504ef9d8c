"""How people and conversations read to the person looking at the page.

Templates decide none of this themselves: "You" or a name, "Notes to self" or the
other person, always through these tags (the signed-in user comes from the context).
"""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.html import escape, format_html, urlize
from django.utils.safestring import mark_safe
from django.utils.text import normalize_newlines

from ..presence import profile_of

register = template.Library()

# The only markup message text gets: links to what people typed as URLs.
LINK_REL = "noopener nofollow ugc"


@register.filter(is_safe=True)
def message_text(value):
    """Message text as shown: escaped, URLs made links (rel="noopener nofollow ugc", a new
    tab), line breaks kept. Text with no URL in it skips the link search."""
    text = normalize_newlines(value or "")
    if "://" in text or "www." in text:
        html = urlize(text, nofollow=True, autoescape=True).replace(
            ' rel="nofollow"', f' rel="{LINK_REL}" target="_blank"'
        )
    else:
        html = escape(text)
    return mark_safe(html.replace("\n", "<br>"))


def _viewer_id(context):
    user = context.get("user")
    return getattr(user, "pk", None)


def display_name(person) -> str:
    """The person's display name, or their username when they have none. Read from the
    profile loaded with them (select_related): never a query."""
    profile = profile_of(person)
    return (profile.display_name if profile is not None else "") or person.username


@register.simple_tag(takes_context=True)
def name_for(context, person, you="You"):
    """`person` as the reader sees them: `you` ("You" by default) for themselves, else their name."""
    if not hasattr(person, "pk"):
        return ""
    return you if person.pk == _viewer_id(context) else display_name(person)


@register.simple_tag
def person_label(person):
    """Where there is room: the display name with the username beside it, muted."""
    if not hasattr(person, "pk"):
        return ""
    name = display_name(person)
    if name == person.username:
        return name
    return format_html('{} <span class="text-body-secondary small fw-normal username">@{}</span>', name, person.username)


@register.simple_tag(takes_context=True)
def conversation_name(context, conversation):
    """What a conversation is called in lists and titles: the other person, or "Notes to self"."""
    if conversation.is_self:
        return "Notes to self"
    return display_name(conversation.other_by_id(_viewer_id(context)))


@register.simple_tag(takes_context=True)
def conversation_label(context, conversation):
    """A conversation in a list: the other person's name with their username, or "Notes to self"."""
    if conversation.is_self:
        return "Notes to self"
    return person_label(conversation.other_by_id(_viewer_id(context)))


@register.simple_tag(takes_context=True)
def conversation_heading(context, conversation):
    """The heading of a conversation's page."""
    if conversation.is_self:
        return "Notes to self"
    return format_html("Conversation with {}", person_label(conversation.other_by_id(_viewer_id(context))))


@register.simple_tag(takes_context=True)
def notification_title(context, notification):
    """What a notification says happened, in the reader's words ("bob read your messages")."""
    actor = notification.actor or (notification.message.sender if notification.message else None)
    who = name_for(context, actor) if actor is not None else "Someone"
    Kind = type(notification).Kind
    return {
        Kind.MESSAGE: f"New message from {who}",
        Kind.REPLY: f"New reply from {who}",
        Kind.READ: f"{who} read your messages",
        Kind.ONLINE: f"{who} came online",
    }.get(notification.kind, notification.get_kind_display())


@register.simple_tag
def notification_url(notification):
    """Where a notification leads: the message, or the conversation (at the newest message read)."""
    if notification.message_id and notification.message is not None:
        return notification.message.get_absolute_url()
    if notification.conversation_id:
        return reverse("messaging:conversation-detail", args=[notification.conversation_id]) + "#send-form"
    return reverse("messaging:notifications")


@register.simple_tag
def presence_text(presence):
    """ "online", "last seen 5 minutes ago", or "" (hidden, or never seen)."""
    if presence is None:
        return ""
    if presence.online:
        return "online"
    if presence.last_seen is None:
        return ""
    return f"last seen {naturaltime(presence.last_seen)}"
