import re

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.forms.utils import ErrorDict

from . import selectors
from .models import MAX_CONTENT_LENGTH, available_time_zones, clean_content, valid_time_zone
from .search import MAX_QUERY_LENGTH

User = get_user_model()


class RefusableMixin:
    """A bound form that can be refused before anything in it is checked.

    Over a rate limit the view sets `refusal`: no field is validated, so no password
    is checked and no user is looked up, and the typed data stays in the form.
    """

    refusal: str | None = None

    def full_clean(self):
        if self.refusal is None:
            return super().full_clean()
        self._errors = ErrorDict(renderer=self.renderer)
        self.cleaned_data = {}
        self.add_error(None, self.refusal)


class Form(RefusableMixin, forms.Form):
    pass


class ContentField(forms.CharField):
    """Message text: stripped, 1 to 5,000 characters, errors worded for people."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Message")
        kwargs.setdefault(
            "widget",
            forms.Textarea(attrs={"rows": 2, "maxlength": MAX_CONTENT_LENGTH, "placeholder": "Write a message…", "dir": "auto", "data-draft": "", "data-enter-sends": ""}),
        )
        kwargs.setdefault("error_messages", {"required": "A message can't be empty."})
        super().__init__(strip=True, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return clean_content(value)


class MessageForm(Form):
    content = ContentField(
        widget=forms.Textarea(
            attrs={"rows": 2, "maxlength": MAX_CONTENT_LENGTH, "placeholder": "Write a message…", "dir": "auto", "data-enter-sends": "", "data-draft": ""}
        )
    )


def inline_box():
    """The box of a form swapped in under or in place of a message: app.js focuses it, so
    the keyboard is already there (to type, or to press Escape)."""
    return forms.Textarea(
        attrs={"rows": 2, "maxlength": MAX_CONTENT_LENGTH, "placeholder": "Write a message…", "dir": "auto", "data-autofocus": "", "data-draft": "", "data-enter-sends": ""}
    )


class ReplyForm(Form):
    content = ContentField(label="Your reply", widget=inline_box())


class ComposeForm(Form):
    to = forms.CharField(
        label="To",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Type a username", "spellcheck": "false"}),
        error_messages={"required": "Choose who to write to."},
    )
    content = ContentField()

    def clean_to(self):
        username = self.cleaned_data["to"].strip()
        user = selectors.recipient_named(username)
        if user is None:
            raise forms.ValidationError(f"There is no user called “{username}”.")
        return user


class BaseTokenField(forms.CharField):
    """The fingerprint of the text an edit started from (hidden; only our page writes it)."""

    def clean(self, value):
        # A mangled token (NUL, too long, not hex) reads as "stale": the user then sees the
        # conflict message, instead of a 422 with an error on a field they cannot see.
        value = value or ""
        return value if re.fullmatch(r"[0-9a-f]{1,64}", value) else ("stale" if value else "")


class EditForm(Form):
    content = ContentField(label="Edit message", widget=inline_box())
    base = BaseTokenField(widget=forms.HiddenInput, required=False)

    def rebase(self, token: str) -> None:
        """Start the form from a newer version (after a conflict), keeping the typed text."""
        self.data = self.data.copy()
        self.data[self.add_prefix("base")] = token


class DeleteAccountForm(Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Type your password to confirm. This cannot be undone.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That password is not right.")
        return password


class ApiTokenForm(Form):
    expires_in = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(days, f"{days} days") for days in settings.API_TOKEN_LIFETIMES_DAYS],
        initial=30,
    )


class RevokeApiTokenForm(Form):
    token = forms.CharField(max_length=32, widget=forms.HiddenInput)


class SignupForm(RefusableMixin, auth_forms.UserCreationForm):
    class Meta(auth_forms.UserCreationForm.Meta):
        model = User
        fields = ("username",)


class LoginForm(RefusableMixin, auth_forms.AuthenticationForm):
    pass


class PasswordChangeForm(RefusableMixin, auth_forms.PasswordChangeForm):
    pass


class SearchForm(forms.Form):
    """What a search asks for. Any text is a valid query (messaging.search); only its length is capped."""

    q = forms.CharField(
        label="Search messages", required=False, max_length=MAX_QUERY_LENGTH,
        error_messages={
            "max_length": f"That search is too long: use at most {MAX_QUERY_LENGTH} characters (a few words are enough).",
            "null_characters_not_allowed": "A search can't contain NUL characters.",
        },
    )  # fmt: skip
    before = forms.CharField(required=False, max_length=100)

    def clean_before(self):
        return self.cleaned_data["before"] or None

def time_zone_choices():
    return [("", "My browser's time zone")] + [(name, name.replace("_", " ")) for name in sorted(available_time_zones())]


class ProfileForm(Form):
    """Settings → Profile. The rules (a real IANA zone, the name's length) are the model's too."""

    display_name = forms.CharField(
        label="Display name", max_length=50, required=False,
        help_text="Shown instead of your username (which stays beside it). Leave it empty to show your username.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname", "dir": "auto"}),
    )  # fmt: skip
    time_zone = forms.ChoiceField(
        label="Time zone", required=False, choices=time_zone_choices,
        help_text="Times are shown in it. It was set from your browser when you first signed in.",
    )  # fmt: skip
    show_online = forms.BooleanField(
        label="Show when I'm online", required=False,
        help_text="Off: nobody sees when you are online or when you were last seen, and you don't see it of others.",
    )  # fmt: skip
    notify_online = forms.BooleanField(
        label="Tell me when someone I write to comes online", required=False,
        help_text="A notification, at most once an hour per person.",
    )  # fmt: skip

    def clean_display_name(self):
        name = " ".join(self.cleaned_data["display_name"].split())
        if "\x00" in name:
            raise forms.ValidationError("A name can't contain NUL characters.")
        return name

    def clean_time_zone(self):
        zone = self.cleaned_data["time_zone"]
        try:
            valid_time_zone(zone)
        except forms.ValidationError as error:
            raise forms.ValidationError(error.messages) from None
        return zone
