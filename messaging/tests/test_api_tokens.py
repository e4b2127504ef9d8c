"""Personal access tokens, made and revoked in Settings: shown once, stored hashed, expiring."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken

from messaging import actions

from .conftest import HX, api_client
from .security_helpers import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"dm_[0-9a-f]{64}")


def create(client, headers=None, expires_in="30"):
    return client.post(reverse("messaging:api-tokens"), {"expires_in": expires_in}, headers=headers or {})


def works(token) -> bool:
    return api_client(token).get(reverse("api:me")).status_code == 200


def test_settings_offers_tokens(alice_client):
    html = alice_client.get(reverse("messaging:settings")).content.decode()
    assert 'id="api-tokens"' in html and "You have no API tokens." in html
    assert f'action="{reverse("messaging:api-tokens")}"' in html
    assert all(f'value="{days}"' in html for days in (7, 30, 90, 365))
    assert 'id="delete-account"' in html  # the danger zone keeps its own form


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_new_token_is_shown_once_and_stored_hashed(alice, alice_client, headers):
    response = create(alice_client, headers)
    assert response.status_code == 200
    html = response.content.decode()
    assert ("<html" in html) == (not headers)
    assert response["Cache-Control"] == "private, no-store"
    (token,) = set(TOKEN.findall(html))
    stored = AuthToken.objects.get(user=alice)
    assert stored.digest == hash_token(token) and token not in (stored.digest, stored.token_key)
    assert stored.expiry - timezone.now() > timedelta(days=29)
    assert works(token)
    # Never again: Settings names it only by the key it starts with.
    again = alice_client.get(reverse("messaging:settings")).content.decode()
    assert token not in again and stored.token_key in again and stored.digest not in again


@pytest.mark.parametrize("days", [7, 365])
def test_the_lifetime_is_chosen(alice, alice_client, days):
    create(alice_client, expires_in=str(days))
    expiry = AuthToken.objects.get(user=alice).expiry
    assert timedelta(days=days) - timedelta(minutes=1) < expiry - timezone.now() <= timedelta(days=days)


@pytest.mark.parametrize("expires_in", ["0", "1000", "", "never", "\x00"])
def test_no_token_without_an_offered_lifetime(alice, alice_client, expires_in):
    assert create(alice_client, expires_in=expires_in).status_code == 422
    assert not AuthToken.objects.exists()
    with pytest.raises(Exception):
        actions.create_api_token(alice, days=10_000)


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_revoking_stops_the_token_at_once(alice, alice_client, token_for, headers):
    token = token_for(alice)
    keep = token_for(alice)
    key = token[:15]
    response = alice_client.post(reverse("messaging:api-token-revoke"), {"token": key}, headers=headers)
    if headers:
        assert response.status_code == 200 and "<html" not in response.content.decode()
    else:
        assert response.status_code == 302 and response["Location"] == reverse("messaging:api-tokens")
    assert not works(token) and works(keep)
    assert key not in alice_client.get(reverse("messaging:settings")).content.decode()


def test_nobody_revokes_someone_elses_token(alice, carol_client, token_for):
    token = token_for(alice)
    for key in (token[:15], "dm_nothing", "x\x00y", "a" * 500):
        response = carol_client.post(reverse("messaging:api-token-revoke"), {"token": key})
        assert response.status_code in (404, 422)
    assert works(token)


def test_an_expired_token_is_refused_shown_as_expired_and_pruned(alice, alice_client, token_for):
    token = token_for(alice)
    AuthToken.objects.filter(user=alice).update(expiry=timezone.now() - timedelta(seconds=1))
    response = api_client(token).get(reverse("api:me"))
    assert response.status_code == 401 and response.json()["detail"] == "This token has expired."
    assert "expired" in alice_client.get(reverse("messaging:settings")).content.decode()
    create(alice_client)
    assert AuthToken.objects.filter(user=alice).count() == 1  # the expired one is gone


@override_settings(API_TOKENS_PER_USER=3)
def test_tokens_per_person_are_limited(alice, alice_client):
    for _ in range(3):
        assert create(alice_client).status_code == 200
    response = create(alice_client)
    assert response.status_code == 422 and "revoke one first" in response.content.decode()
    assert AuthToken.objects.filter(user=alice).count() == 3


def test_deleting_the_account_revokes_every_token(alice, alice_client, token_for):
    tokens = [token_for(alice), token_for(alice)]
    alice_client.post(reverse("messaging:delete-user"), {"password": PASSWORD})
    assert not AuthToken.objects.exists()
    assert not any(works(token) for token in tokens)


def test_a_password_change_revokes_every_token(alice, bob, alice_client, token_for):
    mine, bobs = token_for(alice), token_for(bob)
    new = "a-brand-new-passphrase-42"
    response = alice_client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert not works(mine) and works(bobs)
    alice.refresh_from_db()
    alice.save()  # saving without a new password keeps tokens
    fresh = token_for(alice)
    alice.save()
    assert works(fresh)


def test_an_inactive_account_is_refused(alice, token_for):
    token = token_for(alice)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    assert not works(token)
