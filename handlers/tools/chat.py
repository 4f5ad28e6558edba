"""`gradcert chat`: a terminal conversation through the real WeChat callback path.

In-process (default) it posts to the app's test client and runs queued jobs after each message, so
SMS codes from the console provider show up in the terminal; with --url it talks HTTP to a server.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import requests

from handlers.tools.wechat_sim import WeChatSimulator


def run_chat(app, url: str | None, user: str, script) -> None:
    """Read messages from the terminal (or a script) and print the bot's replies."""
    cfg = app.config
    sim = WeChatSimulator(
        cfg["WECHAT_TOKEN"],
        cfg["WECHAT_APP_ID"],
        cfg.get("WECHAT_ENCODING_AES_KEY") or "",
        cfg.get("WECHAT_ORIGINAL_ID") or "gh_gradcert",
    )
    outbox = Path(cfg["SMS_OUTBOX"])
    seen = outbox.stat().st_size if outbox.exists() else 0
    if url is None:
        from models.migrate import upgrade

        upgrade(cfg["DATABASE_URL"])
        client = app.test_client()
        # the server's one line per request would interleave with the conversation
        logging.getLogger("gradcert.request").setLevel(logging.WARNING)
    mode = "safe (AES)" if sim.crypto else "plain"
    click.echo(
        f"gradcert chat as {user!r}, {mode} mode. 输入消息回车发送；/voice 文字 发送语音；/quit 退出。"
    )

    def post(query: dict, body: bytes) -> tuple[int, bytes]:
        if url is None:
            res = client.post("/wechat", query_string=query, data=body, content_type="text/xml")
            with app.app_context():
                from rq import SimpleWorker

                rt = app.extensions["gradcert"]
                SimpleWorker([rt.queue], connection=rt.redis).work(
                    burst=True, logging_level="WARNING"
                )
            return res.status_code, res.data
        res = requests.post(url.rstrip("/") + "/wechat", params=query, data=body, timeout=15)
        return res.status_code, res.content

    lines = script if script is not None else _prompt_lines()
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.strip() == "/quit":
            break
        if script is not None:
            click.echo(f"> {line}")
        if line.startswith("/voice "):
            query, body = sim.voice(user, line[len("/voice ") :])
        elif line.startswith("/image"):
            query, body = sim.image(user)
        else:
            query, body = sim.text(user, line)
        status, data = post(query, body)
        if status != 200:
            click.echo(f"[HTTP {status}]")
            continue
        text = sim.reply_text(data)
        click.echo(text if text else "（回复稍后通过客服消息发送）")
        seen = _show_sms(outbox, seen)


def _prompt_lines():
    while True:
        try:
            yield input("> ")
        except (EOFError, KeyboardInterrupt):
            return


def _show_sms(outbox: Path, seen: int) -> int:
    """Print SMS written by the console provider since the last message."""
    if not outbox.exists() or outbox.stat().st_size <= seen:
        return seen
    with outbox.open("rb") as f:
        f.seek(seen)
        chunk = f.read()
    for line in chunk.decode("utf-8").splitlines():
        try:
            sms = json.loads(line)
            click.echo(f"📱 短信 → {sms.get('phone_masked', '')}: {sms.get('text', '')}")
        except ValueError:
            pass
    return seen + len(chunk)
