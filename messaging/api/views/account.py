"""You (and deleting your account), and finding people by username."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import actions, presence, selectors
from ...forms import DeleteAccountForm
from ...unread import unread_badge_count
from .. import serializers as s
from ..schema import BodyOnDeleteSchema, answers, body_errors
from .base import ApiView, cleaned, limit, query, validated


class MeView(ApiView):
    schema = BodyOnDeleteSchema()

    @extend_schema(operation_id="get_me", responses=answers({200: s.MeSerializer}), summary="Who you are")
    def get(self, request):
        user = request.user
        profile = presence.profile_of(user) or actions.create_profile(user)
        me = {
            "id": user.pk, "username": user.username, "date_joined": user.date_joined, "unread_count": unread_badge_count(user),
            **{f: getattr(profile, f) for f in ("display_name", "time_zone", "show_online", "notify_online")},
        }  # fmt: skip
        return Response(s.MeSerializer(me).data)

    @extend_schema(
        operation_id="delete_me", request=s.PasswordSerializer,
        responses=answers({204: OpenApiResponse(description="The account and everything of it are gone")}, *body_errors(429)),
        summary="Delete your account, confirmed by your password",
        description="Your messages (sent and received), conversations, notifications, sessions and tokens go with it.",
    )  # fmt: skip
    def delete(self, request):
        limit(request, "password")
        data = validated(request.data, s.PasswordSerializer)
        cleaned(DeleteAccountForm({"password": data["password"]}, user=request.user))
        actions.delete_account(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserSearchView(ApiView):
    @extend_schema(
        operation_id="search_users", parameters=[s.UserSearchQuery], responses=answers({200: s.UsernamesSerializer}, 400),
        summary="Usernames that start with `prefix` (never emails), at most 8",
    )  # fmt: skip
    def get(self, request):
        prefix = query(request, s.UserSearchQuery)["prefix"]
        return Response({"results": selectors.usernames_starting(prefix)})
