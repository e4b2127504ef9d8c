"""Settings for the messaging site.

Everything that differs between a laptop and production comes from the
environment (see the configuration table in README.md). With nothing set, the
app runs on the embedded default: a SQLite file in the project and a
process-local LocMemCache.
"""

import sys
from datetime import timedelta
from pathlib import Path

import bootstrap_wrapper
import dj_database_url
import environ
from csp.constants import NONE, SELF
from django.contrib.messages import constants as message_constants
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Under pytest the app runs as in production except for plain-HTTP serving
# (live_server has no TLS) and a development secret.
TESTING = "pytest" in sys.modules

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING or env.bool("DJANGO_ALLOW_DEV_SECRET", default=False)):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: `make run` and the test suite set DEBUG or DJANGO_ALLOW_DEV_SECRET.
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-4f1c9e"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG or TESTING else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "messaging.apps.AdminConfig",  # django.contrib.admin, its login rate limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "crispy_forms",
    "crispy_bootstrap5",
    "csp",
    "django_ratelimit",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files (no CDN)
    "messaging.apps.MessagingConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "messaging.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "messaging.middleware.ReaderTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "messaging.middleware.CSPMiddleware",  # django-csp's, building a plain response's policy once
    "messaging.middleware.HtmxLoginRedirectMiddleware",
]

# The hot paths, polled by every open tab (the unread badge, the cached conversation partial),
# are served by a chain without what they never use (site_config/wsgi.py): static files
# (WhiteNoise), slash and host rewriting (CommonMiddleware), CSRF (both are GET-only views:
# any other method is a 405 before anything is read or written) and flash messages. Every
# middleware that checks the session, sets a security header (HSTS, nosniff, CSP, frame
# options) or answers an ended session stays.
HOT_PATH_SKIPS = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
}
HOT_PATH_MIDDLEWARE = [name for name in MIDDLEWARE if name not in HOT_PATH_SKIPS]
HOT_PATHS = r"^/(unread-badge/|conversations/\d+/messages/)$"

ROOT_URLCONF = "site_config.urls"
WSGI_APPLICATION = "site_config.wsgi.application"
ASGI_APPLICATION = "site_config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "messaging.context_processors.unread",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# SQLite in WAL mode by default: readers never block the writer, which matters
# because every open tab polls.
# Pages run in a fixed pool of threads (site_config/asgi.py), so each thread keeps its
# connection (CONN_MAX_AGE); an open event stream holds none. DB_POOL=1 shares them
# through a pool per process (psycopg_pool) instead; off by default because a pool
# recovers from a database outage more slowly than a fresh connection does
# (tools/fault_drill.py).
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env.int("DB_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # A file, not memory, for the test database: threads (concurrency tests) and
    # the live server then share it the way processes share the real one.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(BASE_DIR / ".test-db.sqlite3"))}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast instead of hanging when the database is unreachable: a request
    # gets the friendly 503 page within a couple of seconds.
    DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=2)
    DATABASES["default"].setdefault("OPTIONS", {}).update({"connect_timeout": DB_CONNECT_TIMEOUT})
    if env.bool("DB_POOL", default=False):
        # A lost database is still a 503 within the connect timeout: waiting for a pooled
        # connection gives up as fast as connecting does.
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_SIZE", default=8),
            "timeout": DB_CONNECT_TIMEOUT,
            "max_lifetime": 600,
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="dm"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                # A Redis outage is a cache miss (logged), never a 500.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "messaging.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "unique-snowflake",
            # Sessions live here too (cached_db): room for them beside the pages and counts.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }
# The cache is shared between processes only with Redis. A per-process cache
# can only be trusted for as long as one poll interval, so the unread badge
# keeps its counts briefly there (see messaging/unread.py).
CACHE_IS_SHARED = bool(REDIS_URL)
UNREAD_BADGE_TTL = env.int("UNREAD_BADGE_TTL", default=300 if CACHE_IS_SHARED else 8)
UNREAD_BADGE_POLL_SECONDS = 10
# How long the token that lets a badge poll skip the session lookup lasts (messaging/unread.py).
UNREAD_BADGE_TOKEN_MAX_AGE = 15 * 60
CONVERSATION_POLL_SECONDS = 4
CACHE_MIDDLEWARE_SECONDS = 60
# A thread arrives in pieces ("Show more replies"); an open thread that redraws itself keeps
# the pieces it had, up to THREAD_REDRAW_MAX_REPLIES (messaging/selectors.py, thread_page).
THREAD_PAGE_SIZE = 200
THREAD_REDRAW_MAX_REPLIES = 2000

# Live updates (messaging/live.py, messaging/views/events.py). While a tab's event stream
# is connected, its polls slow to LIVE_SAFETY_POLL_SECONDS (static/js/app.js).
LIVE_HEARTBEAT_SECONDS = env.int("LIVE_HEARTBEAT_SECONDS", default=20)
LIVE_MAX_STREAMS = env.int("LIVE_MAX_STREAMS", default=4)  # per user; past it, the polls take over
LIVE_RETRY_MS = 2000
LIVE_QUEUE_SIZE = 100
LIVE_SAFETY_POLL_SECONDS = 60

# Presence (messaging/presence.py): online while a tab's stream is open or it was seen this
# recently (its badge poll, its stream's ping); the heartbeat writes Profile.last_seen at
# most once per PRESENCE_WRITE_SECONDS; a "came online" notification at most once per
# PRESENCE_NOTIFY_EVERY_SECONDS per person.
PRESENCE_ONLINE_SECONDS = env.int("PRESENCE_ONLINE_SECONDS", default=120)
PRESENCE_WRITE_SECONDS = 60
PRESENCE_BEAT_SECONDS = 15  # a beat within this of the last one writes nothing (well inside ONLINE)
PRESENCE_NOTIFY_EVERY_SECONDS = 3600

# Django's cached_db sessions, recording each session's user (messaging/sessions.py): a
# cache read proves a session is alive, and every session of a user can be ended at once.
# Trusted only because the cache is shared (Redis) or there is one process (LocMemCache).
SESSION_ENGINE = "messaging.sessions"
SESSION_CACHE_ALIAS = "default"

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is not what the suite measures.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Ours loads the profile with the user; Django's stays for sessions it signed in before.
AUTHENTICATION_BACKENDS = ["messaging.backends.ModelBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "messaging:inbox"
LOGOUT_REDIRECT_URL = "login"

# Rate limits (django-ratelimit rates: count/period), enforced through the cache; what each
# one keys on is in messaging/ratelimit.py.
RATE_LIMITS = {
    "login": env.str("RATE_LIMIT_LOGIN", default="10/m"),  # per address and account
    "login-address": env.str("RATE_LIMIT_LOGIN_ADDRESS", default="30/10m"),  # per address, all accounts
    "signup": env.str("RATE_LIMIT_SIGNUP", default="10/h"),  # per address
    "send": env.str("RATE_LIMIT_SEND", default="30/m"),  # per user: messages and replies
    "edit": env.str("RATE_LIMIT_EDIT", default="30/m"),  # per user
    "password": env.str("RATE_LIMIT_PASSWORD", default="10/m"),  # per user: password change, account deletion
}
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True  # a cache outage must not lock everyone out
RATELIMIT_HASH_ALGORITHM = "hashlib.blake2b"
if not CACHE_IS_SHARED:
    # LocMemCache is per process: the limits hold for the embedded default's single process.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- JSON API (messaging/api/) ---------------------------------------------------
# Token first: an anonymous request then gets 401 with its WWW-Authenticate (DRF answers 403
# when the first class has no challenge). Sessions (with CSRF) are for the browser.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "messaging.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["messaging.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "messaging.api.errors.exception_handler",
    "DEFAULT_METADATA_CLASS": None,  # no OPTIONS introspection: a 405 like any other method
    "DEFAULT_THROTTLE_CLASSES": [],  # limits are the HTML's (messaging.ratelimit)
}
# Personal access tokens (django-rest-knox): stored as a SHA-512 digest, shown once.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "dm_",  # recognisable by secret scanners
    "TOKEN_TTL": timedelta(days=30),
}
API_TOKEN_LIFETIMES_DAYS = (7, 30, 90, 365)  # what Settings offers; there is no token without expiry
API_TOKENS_PER_USER = 20
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 100
SPECTACULAR_SETTINGS = {
    "TITLE": "Messages API",
    "DESCRIPTION": "The same product as the HTML pages, as JSON. See README.md, \"JSON API\".",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- I18N -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Bootstrap's dist files come from the bootstrap-wrapper wheel, not a copy in the repo.
    ("bootstrap", bootstrap_wrapper.get_bootstrap_dir()),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING or env.bool("PLAIN_STATIC", default=False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
# Bootstrap's alert classes for Django's message levels.
MESSAGE_TAGS = {message_constants.DEBUG: "secondary", message_constants.ERROR: "danger"}

# --- Security -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not TESTING)
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not TESTING)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not TESTING)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline script anywhere: htmx is configured through a <meta> tag and our
# own behaviour lives in static/js/app.js.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "messaging": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "messaging.live": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO"), "propagate": False},
    },
}
