"""Pages of the accounts feature: sign in and out, one's own password, and the admins' user pages.

Every change goes through `archive.accounts.service`, which checks permissions and writes the
audit log; these routes only parse forms and show the outcome.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from archive import access
from archive.access import Role
from archive.accounts import second_factor, service, throttle
from archive.accounts.forms import (
    ROLE_LABELS,
    ActiveForm,
    CodeForm,
    LoginForm,
    LogoutForm,
    PasswordChangeForm,
    PasswordResetForm,
    RoleForm,
    SecondFactorStartForm,
    SignOutEverywhereForm,
    TokenRevokeForm,
    UserCreateForm,
)
from archive.accounts.sessions import current_key_hash
from archive.accounts.throttle import Throttled
from archive.errors import ArchiveError, Forbidden, Invalid

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


def _carried_devices() -> list[str]:
    """The device keys this browser's cookie holds (see `archive.accounts.throttle`)."""
    return throttle.device_keys(request.cookies.get(throttle.DEVICE_COOKIE))


def _trust_this_browser(response, user):
    """After a whole sign-in (or a new password): the browser's device cookie for this account."""
    keys = service.remember_browser(user, _carried_devices())
    response.set_cookie(
        throttle.DEVICE_COOKIE,
        throttle.device_cookie_value(keys),
        max_age=int(float(current_app.config["DEVICE_COOKIE_DAYS"]) * 86400),
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
    )
    return response


def _refused_sign_in(form: LoginForm, refused: Throttled):
    """The sign-in page, saying for how long attempts are refused: 429, with Retry-After."""
    minutes = -(-refused.retry_after // 60)
    form.form_errors.append(
        _("Too many failed sign-ins. Wait %(minutes)d minutes and try again.", minutes=minutes)
    )
    page = render_template("accounts/login.html", form=form)
    return page, 429, {"Retry-After": str(refused.retry_after)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            with throttle.carrying(_carried_devices()):
                user = service.authenticate(
                    form.email.data, form.password.data, address=request.remote_addr or ""
                )
        except Throttled as refused:
            return _refused_sign_in(form, refused)
        if user is not None and user.totp_secret is not None:
            # The password was right; the session is not signed in until the code is too.
            session[PENDING] = {**second_factor.pending(user), "next": safe_next(form.next.data) or ""}
            return redirect(url_for("accounts.login_code"))
        if user is not None:
            login_user(user)
            flash(_("You are signed in."), "success")
            return _trust_this_browser(redirect(safe_next(form.next.data) or url_for("catalogue.home")), user)
        # One message for both causes, so the form does not reveal which accounts exist.
        form.form_errors.append(_("The email or password is not right."))
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


# Where the session keeps an account whose password was right and whose code is awaited.
PENDING = "second_factor_pending"
# Where the account page keeps a new secret, sealed, until a code from the app confirms it.
ENROLLING = "second_factor_enrolling"


def _secret_unreadable() -> str:
    return _(
        "This archive can no longer read your second factor, so no code can be checked. "
        "Ask an admin to reset your second factor, then sign in with your password and set it up again."
    )


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    pending = session.get(PENDING)
    user = second_factor.pending_user(pending)
    if user is None:
        session.pop(PENDING, None)
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            with throttle.carrying(_carried_devices()):
                accepted = second_factor.check_code(user, form.code.data, address=request.remote_addr or "")
        except Throttled as refused:
            session.pop(PENDING, None)
            return _refused_sign_in(LoginForm(formdata=None), refused)
        except second_factor.SecretUnreadable:
            form.code.errors = [_secret_unreadable()]
            return render_template("accounts/login_code.html", form=form), 422
        if accepted:
            session.pop(PENDING, None)
            login_user(user)
            flash(_("You are signed in."), "success")
            return _trust_this_browser(
                redirect(safe_next(pending.get("next")) or url_for("catalogue.home")), user
            )
        form.code.errors = [_("The code is not right.")]
    return render_template("accounts/login_code.html", form=form), (422 if form.errors else 200)


@bp.before_app_request
def admins_set_up_a_second_factor_first():
    """With `REQUIRE_TOTP_FOR_ADMINS`, an admin without a second factor may only set one up (or
    sign out): every other page sends them to their account page, and the API refuses them."""
    if not current_app.config["REQUIRE_TOTP_FOR_ADMINS"] or request.endpoint in SECOND_FACTOR_FREE:
        return None
    if not access.is_admin(current_user) or current_user.totp_secret:
        return None
    if request.path.startswith("/api/"):
        raise Forbidden("Set up a second factor on your account page first.")
    flash(_("Set up a second factor before you go on: this archive asks it of every admin."), "error")
    return redirect(url_for("accounts.account"))


# What an admin still reaches before setting up a second factor.
SECOND_FACTOR_FREE = {"accounts.account", "accounts.logout", "accounts.login", "static", "set_language"}


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
SIGN_IN_ACTIONS = ("sessions_end", "token_revoke", "totp_reset")
# The buttons of the second factor's part of the account page.
SECOND_FACTOR_ACTIONS = ("totp_begin", "totp_confirm", "totp_remove")


def _second_factor_action(action: str, form: CodeForm):
    """Set up, confirm or remove one's own second factor: a redirect once done, else None."""
    if action == "totp_begin":
        if SecondFactorStartForm().validate_on_submit() and second_factor.may_enrol(current_user):
            session[ENROLLING] = second_factor.begin_enrolment()
            return redirect(url_for("accounts.account"))
        return None
    if not form.validate_on_submit():
        return None
    try:
        if action == "totp_confirm":
            second_factor.enrol(current_user, session.get(ENROLLING), form.code.data)
            session.pop(ENROLLING, None)
            flash(_("The second factor is on: signing in now asks for a code."), "success")
        else:
            second_factor.remove(current_user, current_user, form.code.data)
            flash(_("The second factor is off."), "success")
    except Invalid:
        form.code.errors = [_("The code is not right.")]
        return None
    except second_factor.SecretUnreadable:
        form.code.errors = [_secret_unreadable()]
        return None
    except Forbidden:
        return None
    return redirect(url_for("accounts.account"))


def _second_factor_part() -> dict:
    enrolling = None
    if current_user.totp_secret is None:
        enrolling = second_factor.enrolling_secret(session.get(ENROLLING))
    return {
        "may_enrol": second_factor.may_enrol(current_user),
        "enrolling_secret": enrolling,
        "enrolling_uri": second_factor.provisioning_uri(current_user, enrolling) if enrolling else None,
    }


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
    """Ends the account's sessions, revokes one of its tokens or (an admin, for a lost phone) turns
    its second factor off, as the button pressed says: the message to show, or None when the
    action is not one of these or its form does not validate."""
    if action == "sessions_end" and SignOutEverywhereForm().validate_on_submit():
        service.end_all_sessions(current_user, account)
        return _("Every session of this account is signed out.")
    if action == "totp_reset" and SignOutEverywhereForm().validate_on_submit():
        second_factor.remove(current_user, account)
        return _("The second factor is off for this account.")
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
    code_form = CodeForm(formdata=None)
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
    elif request.method == "POST" and action in SECOND_FACTOR_ACTIONS:
        code_form = CodeForm()
        done = _second_factor_action(action, code_form)
        if done is not None:
            return done
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
            # Every browser's device cookie went with the old password; this one is trusted anew.
            return _trust_this_browser(redirect(url_for("accounts.account")), current_user)
    refused = request.method == "POST" and action in (*SIGN_IN_ACTIONS, *SECOND_FACTOR_ACTIONS)
    status = 422 if refused or form.errors or form.form_errors else 200
    page = render_template(
        "accounts/account.html",
        form=form,
        code_form=code_form,
        start_form=SecondFactorStartForm(),
        **_sign_in_forms(current_user),
        **_second_factor_part(),
    )
    return page, status


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
