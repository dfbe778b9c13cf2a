"""Pages of the accounts feature: sign in and out, one's own password, and the admins' user pages.

Every change goes through `archive.accounts.service`, which checks permissions and writes the
audit log; these routes only parse forms and show the outcome.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from archive.access import Role
from archive.accounts import service
from archive.accounts.forms import (
    ROLE_LABELS,
    ActiveForm,
    LoginForm,
    LogoutForm,
    PasswordChangeForm,
    PasswordResetForm,
    RoleForm,
    SignOutEverywhereForm,
    TokenRevokeForm,
    UserCreateForm,
)
from archive.accounts.sessions import current_key_hash
from archive.accounts.throttle import Throttled
from archive.errors import ArchiveError, Invalid

bp = Blueprint("accounts", __name__)


def safe_next(target: str | None) -> str | None:
    """A path on this site to return to after signing in, or None: never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    # Browsers drop tabs and newlines from addresses: "/\t/evil.example" would become "//evil.example".
    if any(c.isspace() or not c.isprintable() for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _show_service_error(form: FlaskForm, error: ArchiveError) -> None:
    """Put a service's refusal next to the field it names, or above the form."""
    placed = False
    if isinstance(error, Invalid):
        for name, message in error.fields.items():
            if name in form:
                form[name].errors = [*form[name].errors, message]
                placed = True
    if not placed:
        form.form_errors.append(error.message)


@bp.app_template_global()
def role_label(role: str) -> str:
    """A role in the reader's language; an unknown role raises rather than being shown."""
    return str(ROLE_LABELS[Role(role)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user = service.authenticate(
                form.email.data, form.password.data, address=request.remote_addr or ""
            )
        except Throttled as refused:
            form.form_errors.append(
                _(
                    "Too many failed sign-ins. Wait %(minutes)d minutes and try again.",
                    minutes=-(-refused.retry_after // 60),
                )
            )
            page = render_template("accounts/login.html", form=form)
            return page, 429, {"Retry-After": str(refused.retry_after)}
        if user is not None:
            login_user(user)
            flash(_("You are signed in."), "success")
            return redirect(safe_next(form.next.data) or url_for("catalogue.home"))
        # One message for both causes, so the form does not reveal which accounts exist.
        form.form_errors.append(_("The email or password is not right."))
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        logout_user()
        flash(_("You are signed out."), "success")
        return redirect(url_for("catalogue.home"))
    if not current_user.is_authenticated:
        return redirect(url_for("catalogue.home"))
    return render_template("accounts/logout.html", form=form)


# The buttons of the sessions and tokens part, on the account page and the admins' user page.
SIGN_IN_ACTIONS = ("sessions_end", "token_revoke")


def _sign_in_forms(account) -> dict:
    """The sessions and tokens part of the account page and the admins' user page."""
    return {
        "sessions": service.list_sessions(current_user, account),
        "this_session": current_key_hash(session),
        "tokens": service.list_tokens(current_user, account),
        "everywhere_form": SignOutEverywhereForm(),
        "revoke_form": TokenRevokeForm(),
        "token_live": service.token_is_live,
    }


def _sign_in_action(action: str | None, account) -> str | None:
    """Ends the account's sessions or revokes one of its tokens, as the button pressed says: the
    message to show, or None when the action is not one of these or its form does not validate."""
    if action == "sessions_end" and SignOutEverywhereForm().validate_on_submit():
        service.end_all_sessions(current_user, account)
        return _("Every session of this account is signed out.")
    if action == "token_revoke":
        form = TokenRevokeForm()
        if form.validate_on_submit():
            service.revoke_token(current_user, form.token_id.data, owner=account)
            return _("The API token is revoked.")
    return None


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PasswordChangeForm()
    action = request.form.get("action")
    if request.method == "POST" and action in SIGN_IN_ACTIONS:
        message = _sign_in_action(action, current_user)
        if message is not None:
            flash(message, "success")
            if action == "sessions_end":
                # This session ended with the others: the browser is signed out too.
                logout_user()
                return redirect(url_for("accounts.login"))
            return redirect(url_for("accounts.account"))
    elif form.validate_on_submit():
        try:
            service.change_password(
                current_user, form.current.data, form.new.data, keep_session=current_key_hash(session)
            )
        except Invalid as error:
            if "current" in error.fields:
                form.current.errors = [_("This is not your current password.")]
            else:
                _show_service_error(form, error)
        else:
            flash(_("Your password is changed. Every other session of yours is signed out."), "success")
            return redirect(url_for("accounts.account"))
    refused = request.method == "POST" and action in SIGN_IN_ACTIONS
    status = 422 if refused or form.errors or form.form_errors else 200
    return render_template("accounts/account.html", form=form, **_sign_in_forms(current_user)), status


@bp.route("/admin/users")
@login_required
def users():
    return render_template("accounts/users.html", users=service.list_users(current_user))


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def new_user():
    service.list_users(current_user)  # refuses non-admins before a form is shown
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = service.create_user(
                current_user, form.email.data, form.role.data, form.password.data, name=form.name.data
            )
        except ArchiveError as error:
            _show_service_error(form, error)
        else:
            flash(_("The account %(email)s is created.", email=user.email), "success")
            return redirect(url_for("accounts.user", user_id=user.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/user_new.html", form=form), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user(user_id: int):
    account = service.get_user(current_user, user_id)
    role_form = RoleForm(role=account.role)
    active_form = ActiveForm()
    password_form = PasswordResetForm()
    action = request.form.get("action")
    # Three small forms share the page; the button pressed says which one was sent.
    forms = {"role": role_form, "activate": active_form, "deactivate": active_form, "password": password_form}
    form = forms.get(action)
    if request.method == "POST" and action in SIGN_IN_ACTIONS:
        message = _sign_in_action(action, account)
        if message is not None:
            flash(message, "success")
            return redirect(url_for("accounts.user", user_id=account.id))
    elif request.method == "POST" and form is not None and form.validate_on_submit():
        try:
            if action == "role":
                service.set_role(current_user, account, role_form.role.data)
                message = _("The role is changed.")
            elif action == "password":
                service.set_password(current_user, account, password_form.password.data)
                message = _("The password is reset. Tell its owner through a safe channel.")
            else:
                service.set_active(current_user, account, action == "activate")
                message = (
                    _("The account is active again.")
                    if action == "activate"
                    else _("The account is deactivated.")
                )
        except ArchiveError as error:
            _show_service_error(form, error)
        else:
            flash(message, "success")
            return redirect(url_for("accounts.user", user_id=account.id))
    failed = (request.method == "POST" and action in SIGN_IN_ACTIONS) or any(
        f.errors or f.form_errors for f in (role_form, active_form, password_form)
    )
    return render_template(
        "accounts/user_edit.html",
        account=account,
        role_form=role_form,
        active_form=active_form,
        password_form=password_form,
        **_sign_in_forms(account),
    ), (422 if failed else 200)
