"""The Flask side of gradcert: the app factory (`handlers.app`), the process wiring (`runtime`),
the CLI, the RQ jobs, and one package per surface: channels/, miniapp/, console/, web/."""

__all__ = ["create_app"]


def __getattr__(name: str):
    """`handlers.create_app`, imported on first use: `gradcert --help` need not load every
    blueprint, and `gunicorn 'handlers:create_app()'` still finds it."""
    if name == "create_app":
        from handlers.app import create_app

        return create_app
    raise AttributeError(f"module 'handlers' has no attribute {name!r}")
