"""Personal access tokens (django-rest-knox's AuthToken: a SHA-512 digest, an expiry).

    Authorization: Bearer dm_<64 hex digits>

knox's own authentication is kept for the digest comparison and the inactive-user check;
two things differ, so that a bad header is a 401 and never a 500, and each request costs
one query:
- the token's form is checked before anything else (knox decodes it as UTF-8 and looks it
  up: a Latin-1 byte was a UnicodeDecodeError, a NUL a PostgreSQL error);
- an expired token is refused at once; knox also scanned the user's other tokens on every
  request to delete the expired ones (a second query). Creating a token prunes them instead
  (actions.create_api_token).
"""

from __future__ import annotations

import re
from hmac import compare_digest

from django.utils import timezone
from knox import auth
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions


def token_pattern() -> re.Pattern:
    hex_digits = knox_settings.AUTH_TOKEN_CHARACTER_LENGTH
    return re.compile(re.escape(knox_settings.TOKEN_PREFIX).encode() + rb"[0-9a-f]{%d}" % hex_digits)


class TokenAuthentication(auth.TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        if not token_pattern().fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        text = token.decode("ascii")
        digest = hash_token(text)
        candidates = AuthToken.objects.filter(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user__profile")
        for auth_token in candidates:
            if compare_digest(digest, auth_token.digest):
                if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                    raise exceptions.AuthenticationFailed("This token has expired.")
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed("Invalid token.")
