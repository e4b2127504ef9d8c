from playwright.sync_api import expect

from . import helpers


def test_demo_user_logs_in_and_sees_their_messages(open_session, demo_data):
    page = open_session()
    helpers.log_in(page, "alice", "demo-pass-2024")

    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_test_id("conversation").filter(has_text="bob")).to_be_visible()
    expect(page.get_by_test_id("unread-message").first).to_be_visible()
    expect(page).to_have_title("(3) Inbox · Messages")

    helpers.open_conversation(page, "bob")
    expect(helpers.message(page, "Don't forget sunscreen")).to_be_visible()
