"""Search (issue 15): the query language, both databases alike, access, deletions, pagination,
highlights, the page (plain and htmx), and links that open a conversation around one message.

Every test here runs on the configured database: SQLite (FTS5) by default, PostgreSQL
(tsvector) with DATABASE_URL; the same cases give the same results on each.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.template import Context, Template
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging import actions, search, selectors
from messaging.models import Message
from messaging.pagination import PAGE_SIZE
from messaging.templatetags.chat import highlight

from .conftest import HX
from .security_helpers import assert_inert
from .test_security_input import XSS_PAYLOADS

pytestmark = pytest.mark.django_db

SEARCH = reverse("messaging:search")


def ids(page) -> set[int]:
    return {m.pk for m in page.results}


@pytest.fixture
def corpus(alice, bob, carol):
    """Messages of Alice with Bob and Carol, and between Bob and Carol (none of Alice's business)."""
    texts = {
        "lunch": (alice, bob, "Lunch tomorrow at the station?"),
        "lunch2": (bob, alice, "Sure, lunch at noon. The station café has good coffee."),
        "coffee": (alice, carol, "Coffee on Thursday? Bring the train tickets."),
        "phrase": (carol, alice, "the train to Paris leaves at nine"),
        "dont": (alice, bob, "Don't forget the map-book and the e-mail from ops@example.com"),
        "emoji": (bob, alice, "Party tonight 🎉 at Sam's"),
        "markup": (bob, alice, "<script>alert('x')</script> is how you'd <b>break</b> a page"),
        "secret": (bob, carol, "Lunch secret between Bob and Carol"),
        "url": (alice, bob, "See https://example.org/trains/timetable for the train times"),
    }
    return {key: actions.send_message(sender, to=receiver, content=text) for key, (sender, receiver, text) in texts.items()}


# The same cases, the same results, on SQLite and PostgreSQL.
CASES = [
    ("lunch", {"lunch", "lunch2"}),
    ("LUNCH", {"lunch", "lunch2"}),
    ("lunch station", {"lunch", "lunch2"}),
    ("lunch -coffee", {"lunch"}),
    ("lunch or coffee", {"lunch", "lunch2", "coffee"}),
    ("lunch OR thursday", {"lunch", "lunch2", "coffee"}),
    ('"the train"', {"coffee", "phrase", "url"}),
    ('"train the"', set()),
    ('"train to paris', {"phrase"}),  # a quote never closed: the rest is the phrase
    ("don't", {"dont"}),
    ("map-book", {"dont"}),
    ("example", {"dont", "url"}),  # inside an e-mail address and a link, words like any other
    ("timetable", {"url"}),
    ("café", {"lunch2"}),
    ("script", {"markup"}),
    ("<b>break</b>", {"markup"}),
    ("secret", set()),  # Bob and Carol's: never Alice's to find
    ("-lunch", set()),  # only "leave out": not a search
    ("lunch*", {"lunch", "lunch2"}),  # * is no operator: the word is lunch
    ("NEAR(lunch station)", {"lunch", "lunch2"}),  # neither is NEAR: it is a word no message has... or no word
    ("🎉", set()),
    ('"', set()),
    ("", set()),
    ("   ", set()),
]


@pytest.mark.parametrize(("q", "expected"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_same_cases_same_results_on_each_database(corpus, alice, q, expected):
    if q.startswith("NEAR"):
        expected = set()  # "near" is just a word, and no message has it: all words must appear
    page = selectors.search_messages(alice, q)
    assert ids(page) == {corpus[key].pk for key in expected}, connection.vendor


def test_a_conversation_only(corpus, alice, bob):
    conversation = corpus["lunch"].conversation
    assert ids(selectors.search_messages(alice, "train", conversation=conversation)) == {corpus["url"].pk}
    assert ids(selectors.search_messages(alice, "train")) == {corpus["coffee"].pk, corpus["phrase"].pk, corpus["url"].pk}
    # Bob searching the same conversation finds the same messages: it is his too.
    assert ids(selectors.search_messages(bob, "lunch", conversation=conversation)) == {corpus["lunch"].pk, corpus["lunch2"].pk}


def test_ranked_best_first(alice, bob):
    once = actions.send_message(alice, to=bob, content="a long message that mentions the budget only once among many other words here")
    twice = actions.send_message(alice, to=bob, content="budget budget")
    page = selectors.search_messages(alice, "budget")
    assert [m.pk for m in page.results] == [twice.pk, once.pk]


def test_deleted_message_and_account_leave_the_results_at_once(corpus, alice, bob, carol):
    actions.delete_message(corpus["lunch"], by=alice)
    assert ids(selectors.search_messages(alice, "lunch")) == {corpus["lunch2"].pk}
    assert ids(selectors.search_messages(bob, "lunch")) == {corpus["lunch2"].pk, corpus["secret"].pk}
    actions.delete_account(bob)
    assert ids(selectors.search_messages(alice, "lunch")) == set()
    assert ids(selectors.search_messages(carol, "lunch")) == set()


def test_an_edit_is_found_by_its_new_words_only(alice, bob):
    message = actions.send_message(alice, to=bob, content="meet at the harbour")
    actions.edit_message(message, editor=alice, content="meet at the lighthouse")
    assert ids(selectors.search_messages(alice, "harbour")) == set()
    assert ids(selectors.search_messages(bob, "lighthouse")) == {message.pk}


def test_pagination_by_anchor_reaches_every_result_once(alice, bob):
    sent = [actions.send_message(alice, to=bob, content=f"report {'report ' * (n % 3)}number {n}") for n in range(45)]
    seen, before, pages = [], None, 0
    while True:
        page = selectors.search_messages(alice, "report", before=before, size=20)
        seen += [m.pk for m in page.results]
        pages += 1
        if not page.next_before:
            break
        before = page.next_before
    assert pages == 3 and sorted(seen) == sorted(m.pk for m in sent) and len(set(seen)) == 45
    ranks = [m.search_rank for m in selectors.search_messages(alice, "report", size=45).results]
    assert ranks == sorted(ranks, reverse=True)


@pytest.mark.parametrize("anchor", ["junk", "nan_5", "inf_3", "1e999_2", "0.5_-1", "_", "0.5_99999999999999999999"])
def test_a_forged_anchor_is_no_error(alice, bob, anchor):
    actions.send_message(alice, to=bob, content="report")
    page = selectors.search_messages(alice, "report", before=anchor)
    assert len(page.results) <= 1


def test_query_count_is_one_whatever_the_number_of_results(alice, bob, carol, django_assert_num_queries):
    for n in range(3):
        actions.send_message(alice, to=bob, content=f"hello {n}")
    with django_assert_num_queries(1):
        page = selectors.search_messages(alice, "hello")
        [(m.sender.username, m.conversation.other(alice).username) for m in page.results]
    for n in range(30):
        actions.send_message(carol if n % 2 else bob, to=alice, content=f"hello again {n}")
    with django_assert_num_queries(1):
        page = selectors.search_messages(alice, "hello")
        [(m.sender.username, m.conversation.other(alice).username) for m in page.results]
    assert len(page.results) == selectors.SEARCH_PAGE_SIZE


def test_page_queries_do_not_grow(alice_client, alice, bob, carol, django_assert_max_num_queries):
    def count():
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get(SEARCH, {"q": "hello"}).status_code == 200
        return len(queries)

    actions.send_message(alice, to=bob, content="hello")
    few = count()
    for n in range(25):
        actions.send_message(carol if n % 2 else bob, to=alice, content=f"hello {n}")
    assert count() == few


# --- Nothing typed is an error -----------------------------------------------------------------

NASTY = [
    '"', '""', '"""', "'", "-", "--", "- -", "*", "**", "lunch*", "*lunch", "OR", "or or", "AND", "NOT", "NEAR",
    "NEAR(", "NEAR(a b, 2)", "a OR", "OR a", "-a", "-\"", "(", ")", "()", "a:b", "content:lunch", "scope:u1",
    "scope : \"u1\"", "^lunch", "lunch +station", "{content}: lunch", "\\", "%", "_", "'; DROP TABLE x; --",
    "🎉", "👩‍👩‍👧", "\u200b", "\u202e", "日本語", "\x01", "a\tb\nc", "&amp;", "<mark>", "x" * 200,
]


@pytest.mark.parametrize("q", NASTY)
def test_nothing_typed_is_an_error(corpus, alice, alice_client, q):
    selectors.search_messages(alice, q)
    for headers in ({}, HX):
        assert alice_client.get(SEARCH, {"q": q}, headers=headers).status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=120))
def test_fuzz_any_text_is_results_or_nothing(alice, bob, q):
    Message.objects.get_or_create(
        sender=alice, receiver=bob, content="fuzz target words: lunch station 🎉 \"quoted\" -dash * OR NEAR",
    )
    page = selectors.search_messages(alice, q.replace("\x00", ""))
    assert all(m.sender_id == alice.pk or m.receiver_id == alice.pk for m in page.results)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(alphabet=st.sampled_from(list('"-*() :^{}ORNEAlunch 🎉\\\'')), max_size=60))
def test_fuzz_the_syntax_characters(alice, bob, q):
    selectors.search_messages(alice, q)


def test_ten_thousand_characters_is_a_friendly_message(alice_client):
    for headers in ({}, HX):
        response = alice_client.get(SEARCH, {"q": "lunch " * 2000}, headers=headers)
        assert response.status_code == 200
        assert "That search is too long" in response.content.decode()


def test_nul_is_a_friendly_message(alice_client):
    response = alice_client.get(SEARCH, {"q": "lunch\x00"})
    assert response.status_code == 200 and "NUL" in response.content.decode()


def test_parse_builds_quoted_tokens_only():
    query = search.parse('lunch -"the map" or NEAR(x* "open')
    expression = search.fts5_expression(query, scope="u1")
    assert expression == (
        'scope : "u1" AND (((content : "lunch") NOT (content : "the map")) OR '
        '(content : "near x" AND content : "open"))'
    )
    assert search.websearch_text(query) == '"lunch" -"the map" or "near x" "open"'
    assert query.words == {"lunch", "near", "x", "open"}


# --- Highlights -------------------------------------------------------------------------------


def test_highlight_escapes_then_marks():
    html = highlight("<b>Lunch</b> & <script>lunch()</script> lunchtime", {"lunch"})
    assert html == (
        "&lt;b&gt;<mark>Lunch</mark>&lt;/b&gt; &amp; &lt;script&gt;<mark>lunch</mark>()&lt;/script&gt; lunchtime"
    )


def test_highlight_of_markup_words_marks_nothing_but_the_word():
    assert highlight('<mark onclick="x">mark</mark>', {"mark"}) == (
        '&lt;<mark>mark</mark> onclick=&quot;x&quot;&gt;<mark>mark</mark>&lt;/<mark>mark</mark>&gt;'
    )


def test_highlight_cuts_a_long_text_around_the_first_match():
    text = "word " * 300 + "needle " + "word " * 300
    html = highlight(text, {"needle"})
    assert html.startswith("…") and html.endswith("…") and "<mark>needle</mark>" in html
    assert len(html) < 320


def test_highlight_as_a_template_filter():
    rendered = Template("{% load chat %}{{ text|highlight:words }}").render(
        Context({"text": "<i>hi</i> there", "words": {"there"}})
    )
    assert rendered == "&lt;i&gt;hi&lt;/i&gt; <mark>there</mark>"


# --- The page ---------------------------------------------------------------------------------


def test_page_plain_and_htmx(corpus, alice_client):
    page = alice_client.get(SEARCH, {"q": "lunch"})
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert html.count('data-testid="search-result"') == 2
    assert f'href="{corpus["lunch"].get_around_url()}"' in html
    assert "<mark>Lunch</mark>" in html and 'role="search"' in html
    assert 'value="lunch"' in html  # the navbar field keeps the query
    assert "Secret" not in html

    fragment = alice_client.get(SEARCH, {"q": "lunch"}, headers={**HX, "HX-Target": "main"}).content.decode()
    assert "<html" not in fragment and "<h1" in fragment and fragment.count('data-testid="search-result"') == 2
    results = alice_client.get(SEARCH, {"q": "lunch"}, headers={**HX, "HX-Target": "search-results"}).content.decode()
    assert results.lstrip().startswith('<section id="search-results"') and "<h1" not in results


def test_page_nothing_found_and_empty(alice_client, corpus):
    assert "Nothing found for “<span dir=\"auto\" hx-disable>zebra</span>”" in alice_client.get(SEARCH, {"q": "zebra"}).content.decode()
    assert "Type a word or two" in alice_client.get(SEARCH).content.decode()


def test_result_shows_the_other_person_the_sender_and_the_date(alice_client, corpus):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    alice_client.cookies["tz"] = "Asia/Tokyo"
    html = alice_client.get(SEARCH, {"q": "thursday"}).content.decode()
    item = re.search(r'<li class="list-group-item" data-testid="search-result">(.*?)</li>', html, re.S).group(1)
    assert '<strong class="text-body">carol</strong>' in item and "You:</span>" in item
    tokyo = corpus["coffee"].timestamp.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f">{tokyo:%-d %b %Y, %H:%M}</time>" in item and isinstance(tokyo, datetime)


def test_markup_in_a_message_stays_text(alice_client, corpus):
    html = alice_client.get(SEARCH, {"q": "break"}).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;<mark>break</mark>&lt;/b&gt;" in html
    assert "<script>alert" not in html


def test_more_results_plain_and_htmx(alice_client, alice, bob):
    for n in range(25):
        actions.send_message(bob, to=alice, content=f"invoice {n}")
    html = alice_client.get(SEARCH, {"q": "invoice"}).content.decode()
    assert html.count('data-testid="search-result"') == 20
    more = re.search(r'<a href="([^"]+)" hx-get="[^"]+" hx-target="closest li" hx-swap="outerHTML" data-load-more>More results', html)
    url = more.group(1).replace("&amp;", "&")
    assert "before=" in url and "offset" not in url
    second = alice_client.get(url).content.decode()
    assert "<html" in second and second.count('data-testid="search-result"') == 5
    fragment = alice_client.get(url, headers=HX).content.decode()
    assert "<html" not in fragment and fragment.count('data-testid="search-result"') == 5 and "More results" not in fragment


def test_conversation_search_page(alice_client, corpus):
    conversation = corpus["lunch"].conversation
    html = alice_client.get(SEARCH, {"q": "train", "conversation": conversation.pk}).content.decode()
    assert html.count('data-testid="search-result"') == 1 and "Search your conversation with bob" in html
    assert f'name="conversation" value="{conversation.pk}"' in html


@pytest.mark.parametrize("value", ["999999", "abc", "", "-1", "99999999999999999999999"])
def test_a_conversation_not_yours_is_404(carol_client, corpus, value):
    for headers in ({}, HX):
        assert carol_client.get(SEARCH, {"q": "lunch", "conversation": value}, headers=headers).status_code == 404


def test_someone_elses_conversation_is_404(carol_client, corpus):
    conversation = corpus["lunch"].conversation  # Alice and Bob's
    for headers in ({}, HX):
        response = carol_client.get(SEARCH, {"q": "lunch", "conversation": conversation.pk}, headers=headers)
        assert response.status_code == 404


def test_anonymous_goes_to_login(client):
    response = client.get(SEARCH, {"q": "lunch"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_navbar_and_conversation_header_have_search_forms(alice_client, corpus):
    conversation = corpus["lunch"].conversation
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert html.count('role="search"') == 2
    assert '<label for="navbar-search" class="visually-hidden">Search messages</label>' in html
    assert "Search this conversation" in html and f'name="conversation" value="{conversation.pk}"' in html


# --- A conversation opened around one message ---------------------------------------------------


@pytest.fixture
def long_conversation(alice, bob):
    return [actions.send_message(alice if n % 2 else bob, to=bob if n % 2 else alice, content=f"line {n}") for n in range(130)]


def test_conversation_page_around_a_message(alice, long_conversation):
    target = long_conversation[40]
    page = selectors.conversation_page(alice, target.conversation, around=target.pk)
    shown = [m.pk for m in page.message_rows]
    assert target.pk in shown and page.has_older and page.has_newer
    assert shown == sorted(shown) and len(shown) == PAGE_SIZE
    assert shown.index(target.pk) == PAGE_SIZE // 2 - 1
    newer = selectors.conversation_page(alice, target.conversation, after=page.newest_id)
    assert newer.message_rows[0].pk == long_conversation[66].pk and newer.has_newer
    last = selectors.conversation_page(alice, target.conversation, after=newer.newest_id)
    assert last.message_rows[-1].pk == long_conversation[-1].pk and not last.has_newer


def test_around_near_the_end_has_nothing_newer(alice, long_conversation):
    target = long_conversation[-3]
    page = selectors.conversation_page(alice, target.conversation, around=target.pk)
    assert not page.has_newer and page.message_rows[-1].pk == long_conversation[-1].pk


def test_conversation_view_around(alice_client, long_conversation):
    target = long_conversation[40]
    url = target.get_around_url()
    assert url.endswith(f"?around={target.pk}#message-{target.pk}")
    html = alice_client.get(url.split("#")[0]).content.decode()
    assert f'id="message-{target.pk}"' in html and "around-target" in html
    assert "Load newer messages" in html and "Load older messages" in html
    assert 'name="gap" value="1"' in html
    assert f'id="message-{long_conversation[-1].pk}"' not in html
    # Sending from here opens the newest (a plain POST): no hx-post on this page's form.
    assert 'hx-post="/conversations/' not in html.split('id="send-form"')[1].split(">")[0]
    newer = re.search(r'href="([^"]+after=\d+)"', html).group(1).replace("&amp;", "&")
    fragment = alice_client.get(newer, headers=HX).content.decode()
    assert "<html" not in fragment and 'id="conversation-newest"' in fragment and 'hx-swap-oob="true"' in fragment


def test_the_poll_does_not_append_past_a_gap(alice_client, alice, bob, long_conversation):
    conversation = long_conversation[0].conversation
    conversation.refresh_from_db()
    version, newest = conversation.version, long_conversation[60].pk
    fresh = actions.send_message(bob, to=alice, content="brand new")
    poll = reverse("messaging:conversation-poll", args=[conversation.pk])
    with_gap = alice_client.get(poll, {"v": version, "newest": newest, "oldest": long_conversation[10].pk, "gap": "1"}, headers=HX)
    assert f'id="message-{fresh.pk}"' not in with_gap.content.decode()
    without = alice_client.get(poll, {"v": version, "newest": long_conversation[-1].pk, "oldest": 1}, headers=HX)
    assert f'id="message-{fresh.pk}"' in without.content.decode()


def test_unread_and_notification_links_open_around_the_message(alice, bob, bob_client):
    message = actions.send_message(alice, to=bob, content="look here")
    inbox = bob_client.get(reverse("messaging:inbox")).content.decode()
    assert f'href="{message.get_around_url()}"' in inbox
    notifications = bob_client.get(reverse("messaging:notifications")).content.decode()
    assert f'href="{message.get_around_url()}"' in notifications


def test_around_someone_elses_message_shows_nothing_of_it(alice, bob, carol, carol_client):
    secret = actions.send_message(alice, to=bob, content="not for carol")
    own = actions.send_message(carol, to=alice, content="hi alice")
    html = carol_client.get(own.conversation.get_absolute_url(), {"around": secret.pk}).content.decode()
    assert "not for carol" not in html and "hi alice" in html


# --- The SQLite index follows every write, and survives a table rebuild --------------------------


def test_sqlite_triggers_come_back_after_a_table_rebuild(alice, bob):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's FTS5 triggers")
    message = actions.send_message(alice, to=bob, content="rebuilt tables keep search")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER messaging_message_fts_insert")
    later = actions.send_message(alice, to=bob, content="rebuilt while the trigger was gone")
    assert ids(selectors.search_messages(alice, "rebuilt")) == {message.pk}
    assert search.repair_sqlite_index(connection)
    assert ids(selectors.search_messages(alice, "rebuilt")) == {message.pk, later.pk}
    assert not search.repair_sqlite_index(connection)


@pytest.mark.postgres
def test_postgres_uses_the_generated_column_and_its_index(alice, bob):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DATABASE_URL=postgres://...)")
    actions.send_message(alice, to=bob, content="indexed words")
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM messaging_message")
        assert cursor.fetchone()[0] == "'indexed':1 'words':2"
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'msg_search_vector_idx'")
        assert "gin (search_vector)" in cursor.fetchone()[0]


# --- The API ----------------------------------------------------------------------------------

API_SEARCH = reverse("api:search")


def test_api_search_pages_and_access(corpus, alice, alice_api, carol_api, django_assert_max_num_queries):
    for n in range(5):
        actions.send_message(alice, to=corpus["lunch"].receiver, content=f"lunch again {n}")
    response = alice_api.get(API_SEARCH, {"q": "lunch", "limit": 4})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == 4 and body["next"] and "before=" in body["next"]
    first = body["results"][0]
    assert set(first) == {"id", "conversation", "sender", "sender_display_name", "content", "sent_at", "parent", "partner", "rank"}
    seen = [r["id"] for r in body["results"]]
    while body["next"]:
        body = alice_api.get(body["next"]).json()
        seen += [r["id"] for r in body["results"]]
    assert len(seen) == len(set(seen)) == 7
    conversation = corpus["lunch"].conversation
    only = alice_api.get(API_SEARCH, {"q": "train", "conversation": conversation.pk}).json()
    assert [r["id"] for r in only["results"]] == [corpus["url"].pk] and only["results"][0]["partner"] == "bob"
    # Carol: not her conversation (404, JSON), and none of Alice's messages.
    stranger = carol_api.get(API_SEARCH, {"q": "train", "conversation": conversation.pk})
    assert stranger.status_code == 404 and stranger.json()["status"] == 404
    assert {r["id"] for r in carol_api.get(API_SEARCH, {"q": "lunch"}).json()["results"]} == {corpus["secret"].pk}


@pytest.mark.parametrize("params", [{"q": "x" * 201}, {"q": "a", "limit": 0}, {"q": "a", "conversation": "abc"}])
def test_api_search_bad_input_is_400(alice_api, params):
    response = alice_api.get(API_SEARCH, params)
    assert response.status_code == 400 and response.json()["status"] == 400


def test_api_search_anonymous_is_401(client):
    assert client.get(API_SEARCH, {"q": "a"}).status_code == 401


@pytest.mark.parametrize("q", NASTY[:25])
def test_api_search_any_text(alice_api, corpus, q):
    assert alice_api.get(API_SEARCH, {"q": q}).status_code == 200


# --- Markup stays text (the payloads of test_security_input.py) ---------------------------------


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payloads_found_by_search_stay_text(payload, alice, bob, bob_client):
    message = actions.send_message(alice, to=bob, content=payload)
    words = search.words_of(message.content)[:3]
    for headers in ({}, {**HX, "HX-Target": "main"}):
        html = bob_client.get(SEARCH, {"q": " ".join(words)}, headers=headers).content.decode()
        assert html.count('data-testid="search-result"') == 1, payload
        assert_inert(html)
        # The query itself, echoed in the field, the title and "Nothing found", is text too.
        echoed = bob_client.get(SEARCH, {"q": payload[:200]}, headers=headers).content.decode()
        assert_inert(echoed, user_text_in_hx_disable=False)
