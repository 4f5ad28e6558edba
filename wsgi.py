"""WSGI entry point: `gunicorn wsgi:app` (or `gunicorn 'handlers:create_app()'`)."""

from handlers import create_app

app = create_app()
