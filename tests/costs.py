"""What a request costs: the SQL statements and Redis round trips of the calling thread."""

from __future__ import annotations

import threading

from redis.connection import AbstractConnection
from sqlalchemy import event


class Costs:
    """SQL statements and Redis round trips made by this thread while counting."""

    def __init__(self, app, monkeypatch):
        self.sql: list[str] = []
        self.redis = 0
        self.counting = False
        engine = app.extensions["gradcert"].db_engine
        me = threading.current_thread()

        @event.listens_for(engine, "before_cursor_execute")
        def _sql(conn, cursor, statement, *args):
            if self.counting and threading.current_thread() is me and statement != "BEGIN":
                self.sql.append(statement)

        original = AbstractConnection.send_packed_command

        def send(conn, command, check_health=True):
            if self.counting and threading.current_thread() is me:
                self.redis += 1
            return original(conn, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", send)

    def measure(self, action) -> tuple[int, int]:
        self.sql, self.redis, self.counting = [], 0, True
        try:
            action()
        finally:
            self.counting = False
        return len(self.sql), self.redis
