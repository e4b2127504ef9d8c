"""How people and conversations read to the person looking at the page.

Templates decide none of this themselves: "You" or a name, "Notes to self" or the
other person, always through these tags (the signed-in user comes from the context).
"""

from django import template
from django.utils.html import escape, urlize
from django.utils.safestring import mark_safe
from django.utils.text import normalize_newlines

from ..search import WORD

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


# A result shows this much of a long message, around its first match.
SNIPPET_LENGTH = 240
SNIPPET_LEAD = 60


@register.filter(is_safe=True)
def highlight(value, words):
    """Message text with the searched `words` marked: the text is escaped first, then only
    our own <mark> is added around whole words that match (the same words the search
    matched, on every database). A long text is cut to a snippet around the first match."""
    text = normalize_newlines(value or "")
    wanted = {w.lower() for w in (words or ())}
    matches = [m for m in WORD.finditer(text) if m.group().lower() in wanted]
    start, end = 0, len(text)
    if len(text) > SNIPPET_LENGTH:
        first = matches[0].start() if matches else 0
        start = max(0, min(first - SNIPPET_LEAD, len(text) - SNIPPET_LENGTH))
        end = start + SNIPPET_LENGTH
    parts = ["…"] if start else []
    position = start
    for match in matches:
        if match.start() < start or match.end() > end:
            continue
        parts.append(escape(text[position : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    parts.append(escape(text[position:end]))
    if end < len(text):
        parts.append("…")
    return mark_safe("".join(parts).replace("\n", " "))
