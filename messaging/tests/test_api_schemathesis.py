"""Schemathesis against our own OpenAPI schema, in process (the WSGI app), with a real token.

Every operation of /api/schema/ is called with data generated from the schema, valid and
invalid (schemathesis's positive and negative modes), as Alice with a personal access
token. Half of the generated ids are swapped for ids of real rows of hers (and half the
people written to for Bob), so the calls reach the success paths too, not only the 404s. Each response must:
- not be a 5xx (`not_a_server_error`);
- have a status code, content type and headers the schema documents for the operation;
- match the schema documented for that status (`response_schema_conformance`).
Examples are capped (MAX_EXAMPLES per operation and mode, derandomised) to keep the run near 30 s.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from messaging import actions

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def world(db, alice, bob, carol):
    """Alice's account with something in every list, and her token."""
    message = actions.send_message(bob, to=alice, content="Hello Alice")
    reply = actions.reply_to_message(message, sender=alice, content="Hi Bob")
    actions.edit_message(reply, editor=alice, content="Hi Bob, edited")
    actions.reply_to_message(reply, sender=bob, content="deeper")
    actions.send_message(carol, to=alice, content="From Carol")
    return {
        "token": actions.create_api_token(alice, days=30)[1],
        "ids": {
            "conversation_id": message.conversation_id,
            "message_id": reply.pk,
            "notification_id": alice.notifications.first().pk,
        },
    }


def aim_at_real_rows(case, world) -> None:
    """Half the generated ids (the even ones) become ids of Alice's rows, and half the
    usernames to write to become Bob's: the calls then reach the success paths too."""
    for name, value in (case.path_parameters or {}).items():
        if name in world["ids"] and isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = world["ids"][name]
    body = case.body if isinstance(case.body, dict) else {}
    if isinstance(body.get("to"), str) and len(body["to"]) % 2 == 0:
        body["to"] = "bob"
    if isinstance(body.get("reply_to"), int) and body["reply_to"] % 2 == 0:
        body["reply_to"] = world["ids"]["message_id"]


@pytest.fixture
def in_the_test_transaction():
    """The WSGI app closes the database connection after each request (request_finished);
    the test's data lives in a transaction on that connection. Django's test client
    disconnects the same receiver around its requests; so does this, for schemathesis's."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_response_matches_the_schema(world, in_the_test_transaction):
    """Each operation, in each mode, gets its own Hypothesis run; every failure is reported
    at the end (one broken operation does not hide another)."""
    from site_config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16, [op.label for op in operations]
    headers = {"Authorization": f"Bearer {world['token']}"}
    failures, ran = {}, 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
            )  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                aim_at_real_rows(case, world)
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
                ran += 1
            except Unsatisfiable:
                continue  # nothing to make invalid (an operation without parameters or body)
            except Exception as error:  # noqa: BLE001 - reported below, with the example that failed
                failures[f"{mode.value} {operation.label}"] = error
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
    assert ran >= len(operations), f"only {ran} runs"
