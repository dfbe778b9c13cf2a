"""Wiring shared by every page and API route: sign-in, language, error pages, template helpers."""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from archive import access
from archive.errors import ArchiveError
from archive.extensions import db, login_manager


def locale_selector() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang_ui") or session.get("lang_ui")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(list(languages)) or "en"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def format_ms(ms: int | None) -> str:
    """A timecode as people read it: 1:02:03 or 12:34."""
    if ms is None:
        return ""
    seconds = int(ms) // 1000
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# What a page may load: only this archive's own files. The templates have no inline script or style
# and no handler attributes, so nothing needs 'unsafe-inline', a nonce or a hash; no page may frame
# another or be framed (clickjacking a signed-in moderator), and forms post only here.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": "'self'",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# No page needs the camera, microphone or location: a script that got in cannot ask for them.
PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()"}


def secure_transport(app: Flask) -> bool:
    """Whether the archive is reached over HTTPS (through its proxy): then HSTS is sent and the
    session cookie is Secure. On unless the instance says otherwise (`SECURE_TRANSPORT`) or is
    plainly local: tests, debug mode, and `archive serve` without `--host`, which sets it off."""
    setting = app.config.get("SECURE_TRANSPORT")
    if setting is None:
        return not (app.testing or app.debug)
    return bool(setting)


def register_headers(app: Flask) -> None:
    """Every answer (pages, API JSON, OAI XML, media, static files, error pages) carries the same
    security headers, from one place: Flask-Talisman. Redirecting to HTTPS is left to the proxy, so
    health checks and `archive serve` on the loopback keep working over plain HTTP."""
    from flask_talisman import DENY, Talisman

    secure = secure_transport(app)
    Talisman(
        app,
        force_https=False,
        frame_options=DENY,
        content_security_policy=CONTENT_SECURITY_POLICY,
        permissions_policy=PERMISSIONS_POLICY,
        # Same origin only: a search URL (the words a reader looked for) never leaves in a Referer.
        referrer_policy="same-origin",
        strict_transport_security=secure,
        session_cookie_secure=secure,
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
    app.config["SESSION_COOKIE_SECURE"] = secure or app.config["SESSION_COOKIE_SECURE"]


def register_web(app: Flask) -> None:
    from archive.accounts.service import user_from_token
    from archive.accounts.sessions import DatabaseSessionInterface
    from archive.accounts.views import bp as accounts_bp
    from archive.api.views import bp as api_bp
    from archive.audit import service as audit
    from archive.authority.views import bp as authority_bp
    from archive.authority.views import places_bp
    from archive.catalogue.editor import bp as editor_bp
    from archive.catalogue.editor import keep_refused_form
    from archive.catalogue.views import bp as catalogue_bp
    from archive.consent.views import bp as consent_bp
    from archive.extensions import csrf
    from archive.jobs.views import bp as jobs_bp
    from archive.media.views import bp as media_bp
    from archive.oai.views import bp as oai_bp
    from archive.review.views import bp as review_bp
    from archive.search.views import bp as search_bp

    app.session_interface = DatabaseSessionInterface()
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(user_id: str):
        from archive.accounts.models import User

        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    @login_manager.request_loader
    def load_user_from_token(req):
        header = req.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            g.token_auth = True
            return user_from_token(header.removeprefix("Bearer ").strip())
        return None

    blueprints = (catalogue_bp, editor_bp, search_bp, accounts_bp, review_bp, consent_bp, oai_bp)
    for bp in (*blueprints, authority_bp, places_bp, media_bp, jobs_bp):
        app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)

    @app.before_request
    def note_client():
        # The audit room records each event with the client's address; it never reads the request.
        audit.note_client(request.remote_addr)

    @app.teardown_request
    def forget_client(_error):
        audit.forget_client()

    @app.before_request
    def refuse_bad_tokens():
        from archive.errors import Unauthorized

        header = request.headers.get("Authorization", "")
        if header and wants_json():
            if not header.startswith("Bearer "):
                raise Unauthorized("Use 'Authorization: Bearer TOKEN'.")
            # A session's user is loaded before any token: the token named must still be valid.
            checked = g.get("token_auth", False)
            token = header.removeprefix("Bearer ").strip()
            if not current_user.is_authenticated or (not checked and user_from_token(token) is None):
                raise Unauthorized("The API token is not valid, has expired or was revoked.")

    @app.after_request
    def apply_outbox(response):
        # A change made by this request becomes searchable before the answer leaves, if the index
        # can be written; it is committed either way, so the answer stays the one of a commit.
        if db.session.info.pop("outbox_dirty", False):
            from archive.search.outbox import drain_after_commit

            drain_after_commit()
        return response

    @app.errorhandler(ArchiveError)
    def archive_error(error: ArchiveError):
        db.session.rollback()
        status = error.status
        if wants_json():
            body = {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
            current = getattr(error, "current_version", None)
            if current is not None:
                body["error"]["current_version"] = current
            return jsonify(body), status
        return render_template("error.html", status=status, message=error.message), status

    @app.errorhandler(CSRFError)
    def refused_form(error: CSRFError):
        # The token lives in the session: a session that ended (or a page kept open across a new
        # sign-in) sends a form whose token no longer matches. Never Flask-WTF's English line, and
        # never the typed testimony thrown away: the editor keeps it.
        kept = keep_refused_form()
        if kept is not None:
            return kept
        message = _(
            "This form was too old to be accepted, so nothing was saved. Reload the page and try again."
        )
        if wants_json():
            return jsonify({"error": {"code": "csrf", "message": message, "fields": {}}}), 400
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            body = {"error": {"code": code, "message": error.description, "fields": {}}}
            return jsonify(body), error.code
        return render_template("error.html", status=error.code, message=error.description), error.code

    @app.context_processor
    def template_helpers():
        return {
            "access": access,
            "format_ms": format_ms,
            "languages_ui": app.config["LANGUAGES"],
            "current_locale": locale_selector(),
            "_": _,
        }

    @app.route("/lang/<code>")
    def set_language(code: str):
        from flask import redirect

        if code in app.config["LANGUAGES"]:
            session["lang_ui"] = code
        target = request.referrer or "/"
        return redirect(target if target.startswith(request.host_url) else "/")
