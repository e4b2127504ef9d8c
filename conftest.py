import os

# Playwright runs an event loop in the test thread; the ORM calls the e2e
# fixtures make from that thread are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
