"""The Flask side of gradcert: the app factory (`handlers.app`), the process wiring (`runtime`),
the CLI, the RQ jobs, and one package per surface: channels/, miniapp/, console/, web/."""

from handlers.app import create_app

__all__ = ["create_app"]
