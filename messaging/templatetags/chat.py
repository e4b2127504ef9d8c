"""How people and conversations read to the person looking at the page.

Templates decide none of this themselves: "You" or a name, "Notes to self" or the
other person, always through these tags (the signed-in user comes from the context).
"""

from html import escape as html_escape

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import escape, format_html, urlize
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import normalize_newlines

from ..presence import profile_of
from ..rendering import RowTemplate, TimeLabels
from ..search import WORD

register = template.Library()

# The only markup message text gets: links to what people typed as URLs.
LINK_REL = "noopener nofollow ugc"


@register.filter(is_safe=True)
def message_text(value):
    """Message text as shown: escaped, URLs made links (rel="noopener nofollow ugc", a new
    tab), line breaks kept. Text with no URL in it skips the link search."""
    text = str(value) if value else ""
    if "\r" in text:  # as normalize_newlines()
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "://" in text or "www." in text:
        html = urlize(text, nofollow=True, autoescape=True).replace(
            ' rel="nofollow"', f' rel="{LINK_REL}" target="_blank"'
        )
    else:
        # What escape() does, without its check for lazy strings (a row's largest cost).
        html = html_escape(text)
    return SafeString(html.replace("\n", "<br>"))


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


# --- A message as it stands in a conversation ---------------------------------------------------
# Every value of the message partial (templates/messaging/_message.html) is made ready here, once
# per message, so the partial only places strings and tests them: a page of them is drawn per
# shape of row (messaging.rendering), and one message alone through the same partial.

MESSAGE_FIELDS = (
    "id", "oob", "sender", "parent_attr", "cls", "name", "iso", "title", "hm", "quote", "quote_name",
    "quote_deleted", "quote_text", "deleted", "body", "history", "seen", "actions", "reply", "edit", "delete",
    "replies", "thread", "day_label", "first_unread",
)
MESSAGE_CONDITIONS = (
    "oob", "parent_attr", "quote", "quote_deleted", "deleted", "history", "seen", "actions", "edit", "replies",
    "day_label", "first_unread",
)


class _MessageUrls:
    """Each message URL by string, from one reverse() per name (not a {% url %} per link)."""

    NAMES = ("reply", "edit", "delete", "history", "thread")
    ROUTES = ("message-reply", "message-edit", "message-delete", "message-history", "thread-detail")

    _parts: dict = {}  # by script prefix: the URLs never change within a process

    def __init__(self):
        prefix = get_script_prefix()
        self.parts = self._parts.get(prefix)
        if self.parts is None:
            marker = str(2**62)
            self.parts = self._parts[prefix] = {
                name: reverse(f"messaging:{route}", args=[marker]).split(marker)
                for name, route in zip(self.NAMES, self.ROUTES)
            }

    def __call__(self, name: str, pk: str) -> SafeString:
        before, after = self.parts[name]
        return SafeString(f"{before}{pk}{after}")


class MessageViews:
    """Makes the values of the message partial for one reader (and one page)."""

    def __init__(self, viewer_id, *, first_unread_id=None, around=None, oob=False):
        self.viewer_id, self.first_unread_id, self.around = viewer_id, first_unread_id, around
        self.oob = SafeString(' hx-swap-oob="true"') if oob else ""
        self.urls = _MessageUrls()
        self.zone = timezone.get_current_timezone()
        self.names: dict = {}
        self.labels = TimeLabels(timezone.localdate(timezone=self.zone))

    def _name(self, person, you: str) -> SafeString:
        key = (getattr(person, "pk", None), you)
        name = self.names.get(key)
        if name is None:
            if key[0] is None:
                name = SafeString("")
            else:
                name = self.names[key] = SafeString(you if key[0] == self.viewer_id else escape(display_name(person)))
        return name

    def __call__(self, message) -> dict:
        pk = SafeString(message.pk)
        deleted = message.deleted_at is not None
        note = message.sender_id == message.receiver_id
        mine = message.sender_id == self.viewer_id
        local = message.timestamp.astimezone(self.zone)
        title = self.labels.title(local)
        parent_id = message.parent_message_id
        quote = quote_deleted = quote_text = quote_name = ""
        if parent_id:
            parent = message.parent_message
            quote, quote_name = "1", self._name(parent.sender, "you")
            if parent.deleted_at is not None:
                quote_deleted = "1"
            else:
                text = parent.content
                # As truncatechars:60, without its per-call cost (a quote per reply on a page).
                quote_text = escape(text if len(text) <= 60 else f"{text[:59]}…")
        count = getattr(message, "reply_count", 0) or 0
        replies = ""
        if count:
            nested = "direct " if getattr(message, "has_nested_replies", False) else ""
            replies = f"{count} {nested}{'reply' if count == 1 else 'replies'}"
        cls = "self-note" if note else ("mine" if mine else "theirs")
        if deleted:
            cls += " deleted"
        if getattr(message, "grouped", False):
            cls += " grouped"
        if self.around is not None and message.pk == self.around:
            cls += " around-target"  # the message a link opened the conversation at
        return {
            "id": pk,
            "oob": self.oob,
            "sender": escape(message.sender.username),
            "parent_attr": SafeString(f' data-parent="{parent_id}"') if parent_id else "",
            "cls": cls,
            "name": self._name(message.sender, "You"),
            "iso": local.isoformat(),
            "title": title,
            "hm": local.strftime("%H:%M"),
            "quote": quote,
            "quote_name": quote_name,
            "quote_deleted": quote_deleted,
            "quote_text": quote_text,
            "deleted": "1" if deleted else "",
            "body": "" if deleted else message_text(message.content),
            "history": self.urls("history", pk) if message.edited and not deleted else "",
            "seen": "1" if mine and message.read and not note and not deleted else "",
            "actions": "" if deleted else "1",
            "reply": self.urls("reply", pk),
            "edit": self.urls("edit", pk) if mine and not deleted else "",
            "delete": self.urls("delete", pk),
            "replies": replies,
            "thread": self.urls("thread", pk),
            "day_label": escape(getattr(message, "day_label", "") or ""),
            "first_unread": "1" if self.first_unread_id is not None and message.pk == self.first_unread_id else "",
        }


@register.simple_tag(takes_context=True)
def message_view(context, message):
    """The values the message partial draws `message` with, for the reader of the page."""
    views = MessageViews(_viewer_id(context), first_unread_id=context.get("first_unread_id"),
                         around=context.get("around"), oob=bool(context.get("oob_row")))  # fmt: skip
    return views(message)


@register.simple_tag(takes_context=True)
def message_rows(context, messages):
    """A page of messages (day dividers, "New messages", each message), drawn by the
    message-row partial once per shape of row, not once per message."""
    views = MessageViews(_viewer_id(context), first_unread_id=context.get("first_unread_id"), around=context.get("around"))
    row = RowTemplate("messaging/_message.html#message-row-markup", var="m", fields=MESSAGE_FIELDS,
                      conditions=MESSAGE_CONDITIONS)  # fmt: skip
    return row.render_all(views(message) for message in messages)

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
        return notification.message.get_around_url()
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
