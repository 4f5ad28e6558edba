"""The conversation through the API: the same flows as the Official Account, one text at a time.

POST /chat runs the text through the engine as a bot.Inbound of the user's channel and answers
the replies with their quick-reply buttons and links. The message id is the Idempotency-Key (or
`client_msg_id`), so a retry gets the first delivery's replies, as a WeChat retry does. A reply
that misses the engine's deadline is answered 202 and fetched later with GET /chat/<msg_id>.
"""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, jsonify

from bot.core.messages import Reply
from handlers.miniapp.errors import ApiError, json_body, text_field
from handlers.miniapp.guard import authenticated, current_session, idempotency_key, limited, runtime

bp = Blueprint("api_chat", __name__)
MSG_ID = r"[A-Za-z0-9._:-]{1,64}"
TEXT_LIMIT = 600


def reply_json(reply: Reply) -> dict:
    """A reply as the API shows it."""
    return {
        "text": reply.text,
        "buttons": list(reply.buttons),
        "link_url": reply.link_url,
        "link_title": reply.link_title,
    }


@bp.post("/chat")
@authenticated
@limited("chat", per_session=(30, 60), per_address=(300, 60))
def say():
    """One message of the user; the bot's replies."""
    data = json_body()
    text = text_field(data, "text", max_length=TEXT_LIMIT)
    given = idempotency_key() or text_field(
        data, "client_msg_id", max_length=64, required=False, pattern=MSG_ID
    )
    msg_id = f"c:{given}" if given else f"s:{uuid.uuid4().hex}"
    msg = current_session().inbound(msg_id, text)
    replies = runtime().engine.handle(msg)
    if replies is None:
        return jsonify(msg_id=msg_id, status="pending", replies=[]), 202
    return jsonify(msg_id=msg_id, status="done", replies=[reply_json(r) for r in replies])


@bp.get("/chat/<msg_id>")
@authenticated
@limited("chat_poll", per_session=(120, 60), per_address=(600, 60))
def replies_of(msg_id: str):
    """The replies to an earlier message that took longer than the request."""
    if not re.fullmatch(r"[cs]:" + MSG_ID, msg_id):
        raise ApiError(404, "unknown_message", "没有这条消息。")
    known, replies = runtime().storage.peek_replies(current_session().tag, msg_id)
    if not known:
        raise ApiError(404, "unknown_message", "没有这条消息（或已过期）。")
    if replies is None:
        return jsonify(msg_id=msg_id, status="pending", replies=[]), 202
    return jsonify(msg_id=msg_id, status="done", replies=[reply_json(r) for r in replies])
