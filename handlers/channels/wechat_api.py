"""Calls to the WeChat API: customer-service messages, with one access token shared by every
worker through Redis and refreshed under a lock through `cgi-bin/stable_token`."""

from __future__ import annotations

import logging
import time

import requests
from redis import Redis
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.core import keys
from bot.core.messages import Reply

log = logging.getLogger(__name__)


class SharedTokenClient(WeChatClient):
    """wechatpy's client, with the access token in Redis instead of per process."""

    def __init__(
        self, appid: str, secret: str, *, redis: Redis, api_base: str, timeout: float = 5.0
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.redis = redis
        self.api_base = api_base.rstrip("/")
        self.API_BASE_URL = f"{self.api_base}/cgi-bin/"
        self.token_key = keys.wechat_token(appid)

    @property
    def access_token(self) -> str:  # type: ignore[override]
        """The shared token, fetched by whichever worker finds it missing first."""
        token = self.redis.get(self.token_key)
        if token:
            return token.decode()
        self.fetch_access_token()
        return self.redis.get(self.token_key).decode()

    def fetch_access_token(self, force: bool = False) -> dict:
        """Refresh under a Redis lock; others wait for the token to appear."""
        lock = self.redis.lock(
            keys.wechat_token_refresh(self.appid), timeout=15, blocking_timeout=15
        )
        with lock:
            if not force and self.redis.exists(self.token_key):
                return {}
            res = requests.post(
                f"{self.api_base}/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
                timeout=self.timeout,
            )
            res.raise_for_status()
            data = res.json()
            if data.get("errcode"):
                raise WeChatClientException(data["errcode"], data.get("errmsg"), client=self)
            ttl = max(60, int(data.get("expires_in", 7200)) - 300)
            self.redis.set(self.token_key, data["access_token"], ex=ttl)
            self.expires_at = int(time.time()) + ttl
            return data


TOKEN_ERRORS = {40001, 40014, 42001}
# What the customer-service API answers when it cannot reach the person: out of the 48-hour window
# (45015), too many messages in it (45047), not following the account (43004, 43019), an openid
# that is not one (40003). The notice then goes another way (bot.appeals.notices).
UNREACHABLE = {45015, 45047, 43004, 43019, 40003}


def send_replies(client: SharedTokenClient, openid: str, replies: list[Reply]) -> None:
    """Customer-service messages: text as text, links as a one-article news message."""
    for reply in replies:
        try:
            _send(client, openid, reply)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            client.redis.delete(client.token_key)
            client.fetch_access_token(force=True)
            _send(client, openid, reply)


def _send(client: SharedTokenClient, openid: str, reply: Reply) -> None:
    if reply.link_url:
        article = {
            "title": reply.link_title or "链接",
            "description": reply.text,
            "url": reply.link_url,
            "image": "",
        }
        client.message.send_articles(openid, [article])
    else:
        client.message.send_text(openid, reply.text)


MAX_MEDIA = 10 * 1024 * 1024


def download_media(client: SharedTokenClient, media_id: str) -> bytes:
    """A temporary media file (cgi-bin/media/get); an error answer comes back as JSON."""
    for attempt in (1, 2):
        res = requests.get(
            f"{client.api_base}/cgi-bin/media/get",
            params={"access_token": client.access_token, "media_id": media_id},
            timeout=10,
            stream=True,
        )
        res.raise_for_status()
        if res.headers.get("Content-Type", "").startswith(("application/json", "text/plain")):
            data = res.json()
            if data.get("errcode") in TOKEN_ERRORS and attempt == 1:
                client.redis.delete(client.token_key)
                continue
            raise WeChatClientException(data.get("errcode"), data.get("errmsg"), client=client)
        body = res.raw.read(MAX_MEDIA + 1, decode_content=True)
        return body
    raise WeChatClientException(40001, "access token refused twice", client=client)


class WeChatChannel:
    """The Official Account as one object: its API client (token shared in Redis), pushing replies
    as customer-service messages, and fetching the photos users send."""

    name = "wx"

    def __init__(self, config: dict, redis: Redis) -> None:
        self.config, self.redis, self._client = config, redis, None

    def client(self) -> SharedTokenClient:
        """The API client, built on first use."""
        if self._client is None:
            cfg = self.config
            self._client = SharedTokenClient(
                cfg["WECHAT_APP_ID"],
                cfg["WECHAT_APP_SECRET"],
                redis=self.redis,
                api_base=cfg["WECHAT_API_BASE"],
            )
        return self._client

    def push(self, app_id: str, user_key: str, replies: list[Reply], notice=None) -> bool:
        """Customer-service messages (the appeal `notice` is already one of the replies' texts);
        False when WeChat says the person cannot be reached now (UNREACHABLE)."""
        try:
            send_replies(self.client(), user_key, replies)
        except WeChatClientException as exc:
            if exc.errcode not in UNREACHABLE:
                raise
            log.info("customer-service message refused: errcode %s", exc.errcode)
            return False
        return True

    def fetch_media(self, app_id: str, media_id: str) -> bytes:
        """The bytes of a temporary media file a user sent."""
        return download_media(self.client(), media_id)
