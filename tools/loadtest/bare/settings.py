"""A bare Django project, the load test's yardstick: no app, no middleware, no database, one
hello-world view. It is served exactly as the app is (site_config.asgi: uvicorn, the same
workers, the same pooled WSGI threads), so the ratio of an endpoint's throughput to its
hello-world is what our code and stack cost, on whatever machine it runs."""

import os

SECRET_KEY = os.environ.get("SECRET_KEY", "bare-loadtest-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tools.loadtest.bare.urls"
DATABASES: dict = {}
USE_TZ = True
