"""Forms of the accounts pages: signing in, changing one's password, and the admins' user pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from archive.access import Role
from archive.accounts.service import MIN_PASSWORD

ROLE_LABELS = {
    Role.ADMIN: _l("Admin"),
    Role.MODERATOR: _l("Moderator"),
    Role.ARCHIVIST: _l("Archivist"),
    Role.RESEARCHER: _l("Researcher"),
}


def _role_choices() -> list[tuple[str, str]]:
    return [(role.value, label) for role, label in ROLE_LABELS.items()]


def _new_password(label):
    return PasswordField(
        label,
        [
            InputRequired(_l("Enter a password.")),
            Length(min=MIN_PASSWORD, message=_l("Use at least %(num)d characters.", num=MIN_PASSWORD)),
        ],
        description=_l(
            "At least %(num)d characters. A few unrelated words are easy to remember.", num=MIN_PASSWORD
        ),
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), [InputRequired(_l("Enter your email address."))])
    password = PasswordField(_l("Password"), [InputRequired(_l("Enter your password."))])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST so that no other site can sign a user out."""


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), [InputRequired(_l("Enter your current password."))])
    new = _new_password(_l("New password"))
    repeat = PasswordField(
        _l("Repeat the new password"),
        [InputRequired(_l("Repeat the new password.")), EqualTo("new", _l("The two new passwords differ."))],
    )


class UserCreateForm(FlaskForm):
    email = EmailField(_l("Email"), [InputRequired(_l("Enter an email address."))])
    name = StringField(_l("Name"), [Length(max=200)])
    role = SelectField(_l("Role"), choices=_role_choices, default=Role.RESEARCHER.value)
    password = _new_password(_l("Password"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_role_choices)


class ActiveForm(FlaskForm):
    """Deactivate or reactivate: the button pressed says which."""


class CodeForm(FlaskForm):
    """A six-digit code from an authenticator app: after the password, to set up the second
    factor, or to turn it off."""

    code = StringField(
        _l("Code from your authenticator app"),
        [InputRequired(_l("Enter the code your app shows now.")), Length(max=10)],
    )


class SecondFactorStartForm(FlaskForm):
    """Only the CSRF token: makes a new secret to set up in an authenticator app."""


class SignOutEverywhereForm(FlaskForm):
    """Only the CSRF token: ends every session of the account."""


class TokenRevokeForm(FlaskForm):
    token_id = IntegerField(validators=[InputRequired()])


class PasswordResetForm(FlaskForm):
    password = _new_password(_l("New password"))
