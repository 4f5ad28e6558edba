"""Local stubs of the WeChat mini-program API and the Alipay OpenAPI gateway. Each checks what it
receives (credentials, the RSA2 signature of our requests, Beijing-time timestamps) and answers
like the real service (Alipay's answers signed with the gateway's own test key)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.stubs import HttpStub

SHANGHAI = ZoneInfo("Asia/Shanghai")
WXA_APP_ID, WXA_SECRET = "wxminiapp0000001", "wxa-s3cret"
OA_APP_ID, OA_SECRET = (
    "wxtestapp0000001",
    "oa-s3cret",
)  # the Official Account of tests.conftest, same API host
ALIPAY_APP_ID = "2021000000000001"


@dataclass
class KeyPair:
    """An RSA 2048 key pair with the PEM forms the settings take."""

    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def public_bare(self) -> str:
        """The public key as Alipay's console shows it: base64 without PEM lines."""
        return "".join(
            line for line in self.public_pem.splitlines() if not line.startswith("-----")
        )

    def sign(self, text: str) -> str:
        signature = self.private.sign(text.encode(), rsa_padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def verify(self, text: str, sign: str) -> bool:
        try:
            self.private.public_key().verify(
                base64.b64decode(sign), text.encode(), rsa_padding.PKCS1v15(), hashes.SHA256()
            )
            return True
        except Exception:
            return False


def signed_notification(gateway: KeyPair, **fields) -> dict:
    """A gateway notification form signed as Alipay signs it (all fields but sign and sign_type)."""
    form = {
        "app_id": ALIPAY_APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "notify_time": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        **fields,
    }
    form["sign"] = gateway.sign("&".join(f"{k}={v}" for k, v in sorted(form.items())))
    form["sign_type"] = "RSA2"
    return form


def encrypted_phone(gateway: KeyPair, aes_key: str, mobile: str) -> str:
    """What `my.getPhoneNumber` gives the mini-program: AES-CBC content, RSA2 over it quoted."""
    plain = json.dumps({"code": "10000", "msg": "Success", "mobile": mobile}).encode()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(base64.b64decode(aes_key)), modes.CBC(b"\0" * 16)).encryptor()
    content = base64.b64encode(enc.update(padded) + enc.finalize()).decode()
    return json.dumps(
        {
            "response": content,
            "sign": gateway.sign(f'"{content}"'),
            "sign_type": "RSA2",
            "encrypt_type": "AES",
            "charset": "UTF-8",
        }
    )


def new_aes_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def checked(stub, route):
    """A route whose failed expectations are recorded (tests assert none) and answered 400."""

    def serve(rec):
        try:
            return route(rec)
        except (AssertionError, KeyError, ValueError) as exc:
            stub.failures.append(f"{rec.path}: {type(exc).__name__} {exc}")
            return 400, {"error": "stub expectation failed"}

    return serve


class AlipayGateway(HttpStub):
    """gateway.do: checks our RSA2 signature, app id and Beijing-time timestamp, answers signed."""

    def __init__(self, app_key: KeyPair, gateway_key: KeyPair) -> None:
        super().__init__()
        self.app_key, self.gateway_key = app_key, gateway_key
        self.auth_codes: dict[str, str] = {}  # auth code -> user id
        self.sent: list[dict] = []  # template messages
        self.failures: list[str] = []
        self.routes["/gateway.do"] = checked(self, self._gateway)

    def _gateway(self, rec):
        params = dict(rec.query)
        sign = params.pop("sign", "")
        unsigned = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        assert self.app_key.verify(unsigned, sign), "request not signed with the app's key"
        assert (
            params["app_id"] == ALIPAY_APP_ID
            and params["sign_type"] == "RSA2"
            and params["charset"] == "utf-8"
        )
        sent = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        assert abs(datetime.now(SHANGHAI) - sent) < timedelta(minutes=5), (
            "timestamp is not Beijing time"
        )
        method = params["method"]
        answer_key = method.replace(".", "_") + "_response"
        if method == "alipay.system.oauth.token":
            assert params["grant_type"] == "authorization_code"
            user = self.auth_codes.get(params.get("code", ""))
            if user is None:
                return self._signed(
                    "error_response",
                    {
                        "code": "40002",
                        "msg": "Invalid Arguments",
                        "sub_code": "isv.code-invalid",
                        "sub_msg": "授权码code无效",
                    },
                )
            return self._signed(
                answer_key,
                {
                    "user_id": user,
                    "access_token": "ALIPAY-ACCESS-TOKEN",
                    "refresh_token": "ALIPAY-REFRESH-TOKEN",
                    "expires_in": 1296000,
                },
            )
        if method == "alipay.open.app.mini.templatemessage.send":
            biz = json.loads(params["biz_content"])
            self.sent.append(biz)
            return self._signed(answer_key, {"code": "10000", "msg": "Success"})
        return 404, {"error": "unknown method"}

    def _signed(self, key: str, answer: dict):
        inner = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        return 200, f'{{"{key}":{inner},"sign":"{self.gateway_key.sign(inner)}"}}'.encode()


class WxaApi(HttpStub):
    """jscode2session, stable_token, getuserphonenumber and subscribe/send of one mini-program, and
    the customer-service messages of the Official Account beside it (same API host)."""

    TOKEN = "wxa-access-token"
    OA_TOKEN = "oa-access-token"

    def __init__(self) -> None:
        super().__init__()
        self.login_codes: dict[str, str] = {}  # js_code -> openid
        self.phone_codes: dict[str, str] = {}  # phone code -> number
        self.failures: list[str] = []
        self.custom: list[dict] = []  # customer-service messages of the Official Account
        self.routes.update(
            {
                path: checked(self, fn)
                for path, fn in {
                    "/cgi-bin/stable_token": self._token,
                    "/sns/jscode2session": self._login,
                    "/wxa/business/getuserphonenumber": self._phone,
                    "/cgi-bin/message/subscribe/send": self._subscribe,
                    "/cgi-bin/message/custom/send": self._custom,
                }.items()
            }
        )

    def _token(self, rec):
        data = rec.json()
        if data.get("appid") == OA_APP_ID:
            assert data == {
                "grant_type": "client_credential",
                "appid": OA_APP_ID,
                "secret": OA_SECRET,
            }
            return 200, {"access_token": self.OA_TOKEN, "expires_in": 7200}
        assert data == {
            "grant_type": "client_credential",
            "appid": WXA_APP_ID,
            "secret": WXA_SECRET,
        }
        return 200, {"access_token": self.TOKEN, "expires_in": 7200}

    def _custom(self, rec):
        assert rec.query.get("access_token") == self.OA_TOKEN, "not the Official Account's token"
        self.custom.append(rec.json())
        return 200, {"errcode": 0, "errmsg": "ok"}

    def texts_to(self, openid: str) -> list[str]:
        """The customer-service texts the Official Account sent to `openid`, in order."""
        return [
            m["text"]["content"]
            for m in self.custom
            if m["touser"] == openid and m["msgtype"] == "text"
        ]

    def _login(self, rec):
        q = rec.query
        assert (q["appid"], q["secret"], q["grant_type"]) == (
            WXA_APP_ID,
            WXA_SECRET,
            "authorization_code",
        )
        openid = self.login_codes.pop(q.get("js_code", ""), None)  # a code works once
        if openid is None:
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        return 200, {"openid": openid, "session_key": "WXA-SESSION-KEY-SECRET"}

    def _phone(self, rec):
        if rec.query.get("access_token") != self.TOKEN:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        number = self.phone_codes.pop(rec.json().get("code", ""), None)
        if number is None:
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        return 200, {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": 1700000000, "appid": WXA_APP_ID},
            },
        }

    def _subscribe(self, rec):
        if rec.query.get("access_token") != self.TOKEN:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        return 200, {"errcode": 0, "errmsg": "ok"}
