"""Helpers of the mini-program tests: a small client that logs in and calls /api/v1 with its
token, and a diploma for a demo student. The fixtures are in tests/handlers/conftest.py."""

from __future__ import annotations

import itertools
import re
from datetime import date

from sqlalchemy import select

from models import Diploma, Student

_codes = itertools.count(1)


class MiniClient:
    """One mini-program user talking to /api/v1."""

    def __init__(self, app, stubs) -> None:
        self.app, self.stubs = app, stubs
        self.client = app.test_client()
        self.token: str | None = None

    def login(self, channel: str, user: str) -> dict:
        code = f"code-{next(_codes)}"
        if channel == "wxa":
            self.stubs["wxa"].login_codes[code] = user
        else:
            self.stubs["alipay"].auth_codes[code] = user
        res = self.client.post("/api/v1/session", json={"channel": channel, "code": code})
        assert res.status_code == 201, res.json
        self.token = res.json["token"]
        return res.json

    def headers(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kw):
        return self.client.get(
            f"/api/v1{path}", headers=self.headers(kw.pop("headers", None)), **kw
        )

    def post(self, path: str, json=None, **kw):
        return self.client.post(
            f"/api/v1{path}", json=json, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def delete(self, path: str, **kw):
        return self.client.delete(
            f"/api/v1{path}", headers=self.headers(kw.pop("headers", None)), **kw
        )

    def run_jobs(self) -> None:
        from rq import SimpleWorker

        rt = self.app.extensions["gradcert"]
        with self.app.app_context():
            SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, logging_level="WARNING")


def add_diploma(app, student_no: str, **fields) -> None:
    """A registered diploma for a demo student."""
    values = dict(
        certificate_no="139321202105001234",
        level="专科",
        major="计算机应用技术",
        study_mode="全日制",
        campus="main",
        enrol_date=date(2018, 9, 1),
        grad_date=date(2021, 6, 30),
        leave_date=date(2021, 7, 1),
        source="main",
    )
    values.update(fields)
    with app.extensions["gradcert"].sessions() as db:
        student = db.scalar(select(Student).where(Student.student_no == student_no))
        db.add(Diploma(student_id=student.id, **values))
        db.commit()


def said_in(message: str, chat_text: str) -> bool:
    """Every sentence of an API error message is in what the chat says for the same decision (the
    chat adds only its own instructions, such as 回复1…)."""
    sentences = [part for part in re.split(r"(?<=[。！？])", message) if part.strip()]
    return bool(sentences) and all(part in chat_text for part in sentences)
