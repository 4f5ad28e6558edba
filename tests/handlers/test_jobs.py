"""RQ jobs: queued by reference, and jobs queued by the previous release (effects by name, the old
notice and push jobs) still run after an upgrade, so that nothing in flight is lost."""

from sqlalchemy import select

from bot.core.effects import push_accounts
from bot.core.messages import Effect
from models import Account
from tests.conftest import Chat
from tests.stubs import wechat_api_stub


def _account(app, openid: str) -> int:
    chat = Chat(app)
    chat.say(openid, "你好")  # creates the account
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(Account.id).where(Account.user_key == openid))


def test_effects_are_queued_by_reference_and_old_jobs_still_run(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    try:
        app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        rt = app.extensions["gradcert"]
        account_id = _account(app, "o-jobs")
        rt.run_effects(None, [Effect(push_accounts, {"account_ids": [account_id], "text": "新的"})])
        [job] = rt.queue.get_jobs()
        assert job.func_name == "handlers.jobs.run_effect" and job.args[0] is push_accounts
        payload = {"account_ids": [account_id], "text": "上一版排队的"}
        rt.queue.enqueue("handlers.jobs.run_effect", "push_accounts", payload, None)
        rt.queue.enqueue(
            "handlers.jobs.push_text", "wx", app.config["WECHAT_APP_ID"], "o-jobs", "旧推送"
        )
        Chat(app).run_jobs()
        sent = [c.json()["text"]["content"] for c in stub.calls("/cgi-bin/message/custom/send")]
        assert sent == ["新的", "上一版排队的", "旧推送"]
        assert rt.queue.count == 0 and rt.queue.failed_job_registry.count == 0
    finally:
        stub.stop()
