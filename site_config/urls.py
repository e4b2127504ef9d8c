from django.contrib import admin
from django.urls import include, path

from messaging.views import accounts

urlpatterns = [
    # The app first: every open tab polls two of its URLs (the badge, the cached partial), and a
    # URL is found by trying the patterns in order. No other prefix here overlaps its paths.
    path("", include("messaging.urls")),
    path("healthz", accounts.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),
    # Ours first: they shadow the include's views of the same names (rate limited).
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/password_change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("messaging.api.urls")),
]

# JSON under /api/ (messaging/api/errors.py), the HTML pages elsewhere.
handler400 = "messaging.api.errors.bad_request"
handler404 = "messaging.api.errors.page_not_found"
handler500 = "messaging.api.errors.server_error"
