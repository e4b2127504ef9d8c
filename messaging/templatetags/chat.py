"""How people and conversations read to the person looking at the page.

Templates decide none of this themselves: "You" or a name, "Notes to self" or the
other person, always through these tags (the signed-in user comes from the context).
"""

from django import template
from django.utils.html import escape, urlize
from django.utils.safestring import mark_safe
from django.utils.text import normalize_newlines

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


@register.simple_tag(takes_context=True)
def name_for(context, person, you="You"):
    """`person` as the reader sees them: `you` ("You" by default) for themselves, else their name."""
    if not hasattr(person, "pk"):
        return ""
    return you if person.pk == _viewer_id(context) else person.username


@register.simple_tag(takes_context=True)
def conversation_name(context, conversation):
    """What a conversation is called in lists and titles: the other person, or "Notes to self"."""
    if conversation.is_self:
        return "Notes to self"
    return conversation.other_by_id(_viewer_id(context)).username


@register.simple_tag(takes_context=True)
def conversation_heading(context, conversation):
    """The heading of a conversation's page."""
    if conversation.is_self:
        return "Notes to self"
    return f"Conversation with {conversation.other_by_id(_viewer_id(context)).username}"
