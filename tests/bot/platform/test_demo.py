"""The demo data: a diploma in every state, and the README's own walkthrough, run through the real
signed WeChat callback against it, reaches a diploma and a certificate (the walkthrough is read
from README.md, so the README cannot drift from what the bot does)."""

import re
from datetime import datetime, timezone

from sqlalchemy import select

from bot.diploma.rules import RecordState, record_view
from bot.platform.demo import seed_demo
from models import Diploma, Student
from tests.conftest import outbox

CODE = object()  # where the walkthrough says "the code that appears"


def walkthrough(root) -> list:
    """The messages of README.md's "For example, with the demo data: …" paragraph, in order."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    paragraph = re.search(r"For example, with the demo data:(.*?)\n\n", readme, re.S).group(1)
    before, after = re.split(r"the code\s+that\s+appears", paragraph)
    return re.findall(r"`([^`]+)`", before) + [CODE] + re.findall(r"`([^`]+)`", after)


def test_the_readme_walkthrough_reaches_a_diploma_and_a_certificate(app, chat, root):
    seed_demo(app.extensions["gradcert"], diplomas=True)
    replies = []
    for message in walkthrough(root):
        if message is CODE:
            chat.run_jobs()
            message = outbox(app)[-1]["code"]
        replies.append(chat.say("demo-reader", message))
    diploma = next(i for i, r in enumerate(replies) if "的毕业证书：" in r and "证书编号" in r)
    assert "示范职业技术学院" in replies[diploma] and "主校区" in replies[diploma]
    assert "电子证明" in replies[-1] and re.search(r"验证码 [0-9A-Z]{16}", replies[-1]), replies[-1]
    assert diploma < len(replies) - 1


def test_the_demo_has_a_diploma_in_every_state(app):
    rt = app.extensions["gradcert"]
    seed_demo(rt, diplomas=True)
    seed_demo(rt, diplomas=True)  # idempotent
    now = datetime.now(timezone.utc)
    with rt.sessions() as db:
        assert len(db.scalars(select(Diploma)).all()) == 4
        states = {
            s.student_no: record_view(db, s, now, rt.domain.college).state
            for s in db.scalars(select(Student))
        }
    assert set(states.values()) >= {
        RecordState.RECORD,
        RecordState.PENDING,
        RecordState.NOT_LEFT_YET,
        RecordState.REVOKED,
        RecordState.NO_RECORD,
    }
    assert states["2017020118"] is RecordState.RECORD
