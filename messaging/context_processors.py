from django.conf import settings

from .unread import UnreadCounts, badge_token, unread_counts


def unread(request):
    """The navbar badge count (from the cache) and the poll intervals."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    counts = unread_counts(user) if signed_in else UnreadCounts(0, 0)
    return {
        "unread_count": counts.messages,
        "unread_notifications": counts.notifications,
        "badge_token": badge_token(user.pk, request.session.session_key) if signed_in else "",
        "UNREAD_BADGE_POLL_SECONDS": settings.UNREAD_BADGE_POLL_SECONDS,
        "CONVERSATION_POLL_SECONDS": settings.CONVERSATION_POLL_SECONDS,
        "LIVE_SAFETY_POLL_SECONDS": settings.LIVE_SAFETY_POLL_SECONDS,
        "LIVE_HEARTBEAT_SECONDS": settings.LIVE_HEARTBEAT_SECONDS,
    }
