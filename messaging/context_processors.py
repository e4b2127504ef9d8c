from django.conf import settings

from .unread import unread_badge_count


def unread(request):
    """The navbar badge count (from the cache) and the poll intervals."""
    user = getattr(request, "user", None)
    return {
        "unread_count": unread_badge_count(user) if user is not None and user.is_authenticated else 0,
        "UNREAD_BADGE_POLL_SECONDS": settings.UNREAD_BADGE_POLL_SECONDS,
        "CONVERSATION_POLL_SECONDS": settings.CONVERSATION_POLL_SECONDS,
    }
