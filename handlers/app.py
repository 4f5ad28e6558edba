"""Flask blueprints, one per channel or surface, and the application factory."""

from __future__ import annotations

import logging
import os

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from handlers import config as settings
from handlers import console, error_reports, logs, metrics, miniapp
from handlers.channels import alipay, wechat
from handlers.runtime import Runtime
from handlers.web import certs, health, home, verify


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session (the console's), opened only when the request carries the
    cookie: the callbacks and the public pages never do, and Flask would otherwise build a signer
    for each of them."""

    def open_session(self, app, request):
        # without a Cookie header (the callbacks, the public pages) nothing is even parsed
        cookies = "HTTP_COOKIE" in request.environ and request.cookies
        if not cookies or not cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings, Redis, database, engine; blueprints last."""
    instance = os.environ.get("GRADCERT_INSTANCE")
    app = Flask("handlers", instance_path=instance or None, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    values = settings.load(app.instance_path)
    values.update(config or {})
    settings.check_production(values)  # one message listing everything a production host lacks
    app.config.from_mapping(values)
    app.config["SECRET_KEY"] = app.config["GRADCERT_SECRET_KEY"]
    app.session_interface = CookieSessions()
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY
    # console cookies travel only over HTTPS when the service is published over HTTPS
    app.config.setdefault(
        "SESSION_COOKIE_SECURE", str(app.config["GRADCERT_PUBLIC_URL"]).startswith("https://")
    )
    # JSON lines unless on a terminal (GRADCERT_LOG_FORMAT forces one), UTC, request ids
    logs.configure(app.config.get("GRADCERT_LOG_FORMAT"))
    error_reports.init(app.config)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # no plugin lines at every start

    app.extensions["gradcert"] = Runtime.build(app.config, app.instance_path)
    logs.init_app(app)
    metrics.init_app(app)

    app.register_blueprint(home.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(certs.bp)
    app.register_blueprint(wechat.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(miniapp.bp)
    app.register_blueprint(alipay.bp)
    return app
