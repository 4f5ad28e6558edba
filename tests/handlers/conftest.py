"""Fixtures of the mini-program tests: test key pairs, the WeChat and Alipay stubs, an app wired to
them, the demo students, and a client of /api/v1."""

from __future__ import annotations

import pytest

from tests.channel_stubs import (
    ALIPAY_APP_ID,
    OA_SECRET,
    WXA_APP_ID,
    WXA_SECRET,
    AlipayGateway,
    KeyPair,
    WxaApi,
    new_aes_key,
)
from tests.miniapp_support import MiniClient


@pytest.fixture(scope="session")
def keys():
    """Our app's key pair (we sign, the gateway checks) and the gateway's (it signs, we check)."""
    return {"app": KeyPair.generate(), "gateway": KeyPair.generate(), "aes": new_aes_key()}


@pytest.fixture
def stubs(keys):
    wxa, gateway = WxaApi().start(), AlipayGateway(keys["app"], keys["gateway"]).start()
    yield {"wxa": wxa, "alipay": gateway}
    wxa.stop()
    gateway.stop()
    assert wxa.failures == [] and gateway.failures == []


@pytest.fixture
def mini_app(make_app, stubs, keys):
    return make_app(
        WXA_APP_ID=WXA_APP_ID,
        WXA_APP_SECRET=WXA_SECRET,
        WECHAT_API_BASE=stubs["wxa"].url,
        WECHAT_APP_SECRET=OA_SECRET,
        WXA_TEMPLATE_APPEAL="TPL-WXA-APPEAL",
        ALIPAY_APP_ID=ALIPAY_APP_ID,
        ALIPAY_APP_PRIVATE_KEY=keys["app"].private_pem,
        ALIPAY_PUBLIC_KEY=keys["gateway"].public_bare,
        ALIPAY_GATEWAY=stubs["alipay"].url + "/gateway.do",
        ALIPAY_AES_KEY=keys["aes"],
        ALIPAY_TEMPLATE_APPEAL="TPL-ALIPAY-APPEAL",
    )


@pytest.fixture
def mini_demo(mini_app):
    from bot.platform.demo import demo_students, seed_demo

    seed_demo(mini_app.extensions["gradcert"])
    return {row[1]: row for row in demo_students()}


@pytest.fixture
def mini(mini_app, stubs):
    return MiniClient(mini_app, stubs)
