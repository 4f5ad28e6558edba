"""The OpenAPI 3.1 document of /api/v1, kept as Python data. tests/handlers/test_openapi.py
checks that every route registered in Flask is here with the same methods, and runs schemathesis
against the app with it."""

from __future__ import annotations

from bot.appeals.rules import CATEGORIES
from bot.binding.rules import CONSENT_VERSION
from bot.diploma.certificates import MAX_DAYS, MIN_DAYS
from bot.diploma.verification import FIELDS
from models import ProxyState, Scope

STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
NDATE = {"type": ["string", "null"], "format": "date"}
NTIME = {"type": ["string", "null"], "format": "date-time"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
BINARY = {"type": "string", "format": "binary"}
MESSAGES = {
    200: "OK",
    201: "Created",
    202: "Accepted: waits for a code, or still being processed",
    204: "No content",
    400: "Malformed request",
    401: "Not logged in (or the token expired)",
    403: "Not bound, or the SMS check is not fresh",
    404: "Not found",
    409: "Conflict with the current state",
    410: "The code is gone (expired, used or killed)",
    413: "Body too large",
    415: "Unsupported content type",
    422: "Understood but refused",
    429: "Rate limited: see Retry-After",
    502: "The channel's API failed",
    503: "Busy, or the channel is not configured",
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, **properties) -> dict:
    """A closed object schema."""
    return {
        "type": "object",
        "properties": properties,
        "required": required or list(properties),
        "additionalProperties": False,
    }


RELATION = {"enum": ["parent", "spouse", "child", "service_point"]}
PROXY_STATE = {"enum": [state.value for state in ProxyState]}
SCOPES = {"type": "array", "items": {"enum": [scope.value for scope in Scope]}}
PROXY_BASE = {"id": INT, "name_masked": STR, "relation": RELATION, "relation_label": STR}
NACTING = {"oneOf": [{"$ref": "#/components/schemas/Acting"}, {"type": "null"}]}
CERTIFICATE = {
    "code": STR,
    "status": {"enum": ["valid", "expired", "closed", "revoked"]},
    "issued_at": NTIME,
    "valid_until": NTIME,
    "closed_at": NTIME,
    "verify_url_path": STR,
}
APPEAL_SUMMARY = {
    "ticket_no": STR,
    "category": STR,
    "category_label": STR,
    "status": STR,
    "status_label": STR,
    "open": BOOL,
    "due_date": NDATE,
    "created_at": NTIME,
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": STR, "message": STR, "retry_after": INT},
            }
        },
    },
    "Reply": obj(text=STR, buttons={"type": "array", "items": STR}, link_url=NSTR, link_title=NSTR),
    "ChatResult": obj(
        msg_id=STR,
        status={"enum": ["done", "pending"]},
        replies={"type": "array", "items": ref("Reply")},
    ),
    "Session": obj(
        token=STR,
        token_type={"const": "Bearer"},
        expires_in=INT,
        channel={"enum": ["wxa", "alipay"]},
        bound=BOOL,
    ),
    "SessionInfo": obj(channel={"enum": ["wxa", "alipay"]}, bound=BOOL, phone_masked=NSTR),
    "PhoneProof": obj(phone_masked=STR, valid_for=INT),
    "Binding": obj(
        name_masked=STR,
        student_no_masked=STR,
        bound_at=NTIME,
        verified_at=NTIME,
        verification_fresh=BOOL,
    ),
    "BindingStatus": obj(
        bound=BOOL,
        binding={"oneOf": [ref("Binding"), {"type": "null"}]},
        consent_version=STR,
        consented=BOOL,
        pending_purpose={"enum": ["bind", None]},
    ),
    "Verified": obj(
        status={"enum": ["bound", "verified"]},
        verified_by={"enum": ["sms", "phone", None]},
        binding=ref("Binding"),
    ),
    "CodeSent": obj(
        status={"const": "code_sent"},
        purpose={"enum": ["bind", "lookup"]},
        phone_masked=STR,
        expires_in=INT,
    ),
    "Unbound": obj(status={"const": "unbound"}),
    "Deleted": obj(status={"const": "deleted"}),
    "DiplomaRecord": obj(
        school=STR,
        name_masked=STR,
        level=STR,
        major=STR,
        study_mode=STR,
        campus=STR,
        campus_name=STR,
        enrol_date=NDATE,
        grad_date=NDATE,
        certificate_no=STR,
    ),
    "Diploma": obj(
        state={
            "enum": [
                "record",
                "revoked",
                "no_record",
                "not_left",
                "not_left_yet",
                "pending",
                "overdue",
            ]
        },
        record={"oneOf": [ref("DiplomaRecord"), {"type": "null"}]},
        expected_date=NDATE,
        leave_date=NDATE,
        certificate_no=NSTR,
        acting_for=NACTING,
    ),
    "Certificate": obj(**CERTIFICATE),
    "Download": obj(
        url={"type": "string", "format": "uri"},
        expires_at={"type": "string", "format": "date-time"},
    ),
    "CertificateWithLink": obj(**CERTIFICATE, download=ref("Download")),
    "CertificateList": obj(
        certificates={"type": "array", "items": ref("Certificate")}, acting_for=NACTING
    ),
    "Categories": obj(
        categories={"type": "array", "items": obj(key=STR, label=STR, needs=NSTR)},
        max_open=INT,
        max_photos=INT,
    ),
    "AppealSummary": obj(**APPEAL_SUMMARY),
    "AppealList": obj(appeals={"type": "array", "items": ref("AppealSummary")}),
    "AppealEvent": obj(at=NTIME, kind=STR, status=NSTR, status_label=NSTR, note=NSTR),
    "Appeal": obj(
        **APPEAL_SUMMARY,
        description=STR,
        urgent=BOOL,
        urgent_deadline=NDATE,
        resolution=NSTR,
        next_route=NSTR,
        events={"type": "array", "items": ref("AppealEvent")},
        photos={"type": "array", "items": obj(id=INT, state=STR)},
        lost={"oneOf": [ref("LostDetails"), {"type": "null"}]},
    ),
    "LostDetails": obj(
        delivery={"enum": ["pickup", "post"]},
        delivery_label=STR,
        address=STR,
        fee_yuan=INT,
    ),
    "LostTerms": obj(
        needs=STR,
        fee_yuan=INT,
        fee_text=NSTR,
        deliveries={"type": "array", "items": obj(key={"enum": ["pickup", "post"]}, label=STR)},
        max_photos=INT,
    ),
    "Acting": obj(**PROXY_BASE, graduate_as=STR, scopes=SCOPES, valid_until=NTIME),
    "ProxyRequest": obj(**PROXY_BASE, state=PROXY_STATE, created_at=NTIME),
    "ProxyForMe": obj(
        id=INT,
        relation=RELATION,
        relation_label=STR,
        state=PROXY_STATE,
        scopes=SCOPES,
        valid_until=NTIME,
    ),
    "Proxies": obj(
        acting={"type": "array", "items": ref("Acting")},
        request={"oneOf": [ref("ProxyRequest"), {"type": "null"}]},
        for_me={"type": "array", "items": ref("ProxyForMe")},
    ),
    "ProxyEnded": obj(id=INT, state={"const": "revoked"}),
    "Verification": obj(
        code=STR,
        status={"enum": ["valid", "expired", "revoked", "closed", "tampered", "unknown"]},
        genuine={"type": ["boolean", "null"]},
        name_matched={"type": ["boolean", "null"]},
        **{name: NSTR for name in FIELDS},
        checked_at={"type": "string", "format": "date-time"},
        verify_url_path=STR,
    ),
}

IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a POST safely: the first answer is replayed for 24 hours (per account).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
}
DAYS = obj(days={"type": "integer", "minimum": MIN_DAYS, "maximum": MAX_DAYS})
APPEAL_FIELDS = {
    "category": {"enum": [c.key for c in CATEGORIES]},
    "description": {"type": "string", "minLength": 4, "maxLength": 500},
    "contact_phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
    "urgent_deadline": {"type": "string", "format": "date"},
    "name": STR,
    "id_number": STR,
    "student_no": STR,
    "form_id": STR,
}


def path_param(name: str, schema: dict = STR) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


ACTING_FOR = {
    "name": "acting_for",
    "in": "query",
    "required": False,
    "description": "Act for the graduate of this active proxy (GET /proxies `acting[].id`), within its scope",
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}
PROXY_ID = path_param("proxy_id", {"type": "integer", "minimum": 1, "maximum": 2147483647})


def op(
    summary: str,
    ok: dict,
    *errors: int,
    body: dict | None = None,
    auth: bool = True,
    idempotent: bool = False,
    params: list | None = None,
    multipart: dict | None = None,
) -> dict:
    """One operation: its success answers (status -> schema name or None) and its error statuses."""
    responses = {}
    for status, schema in ok.items():
        responses[str(status)] = {"description": MESSAGES[status]}
        if schema:
            responses[str(status)]["content"] = {"application/json": {"schema": ref(schema)}}
    codes = (
        set(errors)
        | {429}
        | ({401} if auth else set())
        | ({400, 409, 422} if idempotent else set())
    )
    if body or multipart:
        codes |= {400, 413, 415}
    if body:
        codes |= {
            422
        }  # a value of the wrong type, or an unknown field (handlers/miniapp/schema.py)
    for status in sorted(codes):
        responses[str(status)] = {
            "description": MESSAGES[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    operation: dict = {"summary": summary, "responses": responses}
    parameters = list(params or []) + ([IDEMPOTENCY] if idempotent else [])
    if parameters:
        operation["parameters"] = parameters
    if auth:
        operation["security"] = [{"bearer": []}]
    content = {}
    if multipart:
        content["multipart/form-data"] = {"schema": multipart}
    if body:
        content["application/json"] = {"schema": body}
    if content:
        operation["requestBody"] = {"required": True, "content": content}
    return operation


LOST_FIELDS = {
    "delivery": {"enum": ["pickup", "post"]},
    "address": {"type": "string", "maxLength": 200},
    "contact_phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
    "urgent_deadline": {"type": "string", "format": "date"},
    "purpose": {"type": "string", "maxLength": 30},
    "email": {"type": "string", "format": "email", "maxLength": 254},
}


def _appeal_form(required: list[str], **extra) -> dict:
    return {
        "type": "object",
        "required": required,
        "properties": {
            **APPEAL_FIELDS,
            **extra,
            "photos": {"type": "array", "maxItems": 9, "items": BINARY},
        },
    }


def _verification_operation() -> dict:
    """For organisations, with their own key: an unknown code is a 404 with the same answer."""
    operation = op(
        "For organisations: check a certificate code (and optionally the holder's name) with the "
        "API key the school issued (Bearer); counted against the key's daily quota, audited, and "
        "told to the holder",
        {200: "Verification"},
        400,
        body={
            "type": "object",
            "required": ["code"],
            "properties": {
                "code": {"type": "string", "minLength": 1, "maxLength": 64},
                "name": {"type": "string", "maxLength": 64},
            },
        },
    )
    operation["responses"]["404"] = {
        "description": "No certificate has this code",
        "content": {"application/json": {"schema": ref("Verification")}},
    }
    operation["security"] = [{"verifierKey": []}]
    return operation


PATHS = {
    "/api/v1/openapi.json": {"get": op("This document", {200: None}, auth=False)},
    "/api/v1/session": {
        "post": op(
            "Log in with a wx.login() or my.getAuthCode code",
            {201: "Session"},
            401,
            502,
            503,
            auth=False,
            body=obj(
                channel={"enum": ["wxa", "alipay"]},
                code={"type": "string", "minLength": 1, "maxLength": 256},
            ),
        ),
        "get": op("Who is logged in", {200: "SessionInfo"}),
        "delete": op("Log out (the token stops working)", {204: None}),
    },
    "/api/v1/session/phone": {
        "post": op(
            "Prove a phone number through the channel (WeChat: code; Alipay: the my.getPhoneNumber response string)",
            {200: "PhoneProof"},
            422,
            502,
            503,
            idempotent=True,
            body={"type": "object", "properties": {"code": STR, "response": STR}},
        )
    },
    "/api/v1/chat": {
        "post": op(
            "Say something to the bot (the same flows as the Official Account)",
            {200: "ChatResult", 202: "ChatResult"},
            409,
            503,
            params=[IDEMPOTENCY],
            body={
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {"type": "string", "minLength": 1, "maxLength": 600},
                    "client_msg_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
                },
            },
        )
    },
    "/api/v1/chat/{msg_id}": {
        "get": op(
            "The replies to an earlier message",
            {200: "ChatResult", 202: "ChatResult"},
            404,
            params=[path_param("msg_id")],
        )
    },
    "/api/v1/binding": {
        "get": op("Binding status", {200: "BindingStatus"}),
        "post": op(
            f"Bind: identity and consent (notice {CONSENT_VERSION}); a code is sent unless a proven phone matches",
            {200: "Verified", 202: "CodeSent"},
            409,
            422,
            idempotent=True,
            body={
                "type": "object",
                "required": ["name", "id_number", "consent"],
                "properties": {"name": STR, "id_number": STR, "student_no": STR, "consent": BOOL},
            },
        ),
        "delete": op("Unbind", {200: "Unbound"}, 404, 409),
    },
    "/api/v1/me": {
        "delete": op(
            "删除我的信息: unbind, end proxies held, withdraw consents, end every session",
            {200: "Deleted"},
            409,
        )
    },
    "/api/v1/code": {
        "post": op(
            "Send a code for the binding in progress, else for a diploma lookup",
            {200: "Verified", 202: "CodeSent"},
            409,
            422,
            idempotent=True,
        )
    },
    "/api/v1/code/verify": {
        "post": op(
            "Check a code",
            {200: "Verified"},
            409,
            410,
            422,
            idempotent=True,
            body=obj(code={"type": "string", "pattern": "^[0-9 ]{6,12}$"}),
        )
    },
    "/api/v1/diploma": {
        "get": op("The diploma record", {200: "Diploma"}, 400, 403, 404, params=[ACTING_FOR])
    },
    "/api/v1/certificates": {
        "get": op(
            "My electronic certificates",
            {200: "CertificateList"},
            400,
            403,
            404,
            params=[ACTING_FOR],
        ),
        "post": op(
            "Issue a certificate",
            {201: "CertificateWithLink"},
            403,
            404,
            body=DAYS,
            idempotent=True,
            params=[ACTING_FOR],
        ),
    },
    "/api/v1/certificates/{code}": {
        "get": op(
            "One certificate",
            {200: "Certificate"},
            400,
            403,
            404,
            params=[path_param("code"), ACTING_FOR],
        )
    },
    "/api/v1/certificates/{code}/extend": {
        "post": op(
            "Extend a certificate",
            {200: "CertificateWithLink"},
            403,
            404,
            body=DAYS,
            idempotent=True,
            params=[path_param("code"), ACTING_FOR],
        )
    },
    "/api/v1/certificates/{code}/close": {
        "post": op(
            "Close a certificate",
            {200: "Certificate"},
            403,
            404,
            idempotent=True,
            params=[path_param("code"), ACTING_FOR],
        )
    },
    "/api/v1/certificates/{code}/download": {
        "get": op(
            "A signed PDF link (72 hours)",
            {200: "Download"},
            400,
            403,
            404,
            409,
            params=[path_param("code"), ACTING_FOR],
        )
    },
    "/api/v1/proxies": {
        "get": op("Whom I act for, my request in progress, who acts for me", {200: "Proxies"})
    },
    "/api/v1/proxies/{proxy_id}": {
        "delete": op(
            "End a proxy: the graduate revokes it, or the proxy withdraws",
            {200: "ProxyEnded"},
            404,
            409,
            params=[PROXY_ID],
        )
    },
    "/api/v1/proxies/{proxy_id}/document": {
        "post": op(
            "The notarised authorisation of my request: its number and 1-3 photos (then staff review)",
            {200: "ProxyRequest"},
            404,
            409,
            422,
            503,
            idempotent=True,
            params=[PROXY_ID],
            multipart={
                "type": "object",
                "required": ["notarised_no", "photos"],
                "properties": {
                    "notarised_no": {"type": "string", "minLength": 4, "maxLength": 80},
                    "photos": {"type": "array", "minItems": 1, "maxItems": 3, "items": BINARY},
                },
            },
        )
    },
    "/api/v1/appeals/categories": {"get": op("Appeal categories", {200: "Categories"}, auth=False)},
    "/api/v1/appeals": {
        "get": op("My appeals", {200: "AppealList"}),
        "post": op(
            "File an appeal (photos as multipart `photos` parts, JPEG/PNG, 5 MB each)",
            {201: "Appeal"},
            403,
            404,
            409,
            422,
            idempotent=True,
            params=[ACTING_FOR],
            multipart=_appeal_form(["category", "description"]),
            body={
                "type": "object",
                "required": ["category", "description"],
                "properties": APPEAL_FIELDS,
            },
        ),
    },
    "/api/v1/lost-certificates/terms": {
        "get": op(
            "What a 学历证明书 in place of a lost certificate needs and costs",
            {200: "LostTerms"},
            auth=False,
        )
    },
    "/api/v1/lost-certificates": {
        "post": op(
            "Ask for a 学历证明书 in place of a lost certificate (photos as multipart `photos` "
            "parts: ID card both sides and the signed statement); read it at /appeals/{ticket_no}",
            {201: "Appeal"},
            403,
            409,
            422,
            idempotent=True,
            multipart={
                "type": "object",
                "required": ["delivery", "photos"],
                "properties": {
                    **LOST_FIELDS,
                    "photos": {"type": "array", "minItems": 1, "maxItems": 9, "items": BINARY},
                },
            },
            body={"type": "object", "required": ["delivery"], "properties": LOST_FIELDS},
        )
    },
    "/api/v1/appeals/{ticket_no}": {
        "get": op(
            "One appeal with its history", {200: "Appeal"}, 404, params=[path_param("ticket_no")]
        )
    },
    "/api/v1/appeals/{ticket_no}/information": {
        "post": op(
            "Add text and/or photos to an open appeal",
            {200: "Appeal"},
            404,
            409,
            422,
            idempotent=True,
            params=[path_param("ticket_no")],
            multipart=_appeal_form([], text=STR),
            body={"type": "object", "properties": {"text": STR, "form_id": STR}},
        )
    },
    "/api/v1/verifications": {"post": _verification_operation()},
}


def document() -> dict:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gradcert mini-program API",
            "version": "1.0.0",
            "description": 'Errors are `{"error": {"code": "stable_code", "message": "中文"}}`.',
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "verifierKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An organisation's verification key (gcv_…), issued by the school",
                },
            },
        },
    }
