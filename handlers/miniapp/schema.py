"""Request bodies checked against the OpenAPI document before a view reads them: a JSON body
whose values have the wrong type (`{"days": "30"}`) or that carries fields the operation does
not know is a 422 naming the field. Missing fields and values out of range are left to the views,
which answer them with their own codes (400 `missing_field`, `bad_field`, …)."""

from __future__ import annotations

import re
from functools import cache

import jsonschema_rs
from flask import request

from handlers.miniapp.errors import ApiError
from handlers.miniapp.openapi import document

STRICT = ("Type", "AdditionalProperties")  # what the schema refuses before the view


@cache
def _validator(path: str, method: str):
    """The compiled schema of an operation's JSON body, or None when it takes none."""
    doc = document()
    operation = doc["paths"].get(path, {}).get(method, {})
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema")
    )
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})


def openapi_path(rule: str) -> str:
    """`/api/v1/proxies/<int(max=…):proxy_id>/document` -> `/api/v1/proxies/{proxy_id}/document`."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def check_json_body() -> None:
    """ApiError 422 when the JSON body breaks its operation's schema in type or fields."""
    if request.url_rule is None or request.mimetype != "application/json":
        return
    validator = _validator(openapi_path(request.url_rule.rule), request.method.lower())
    if validator is None:
        return
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return  # the view's json_body() answers 400 bad_json
    for error in validator.iter_errors(data):
        kind = type(error.kind).__name__
        if kind in STRICT:
            where = ".".join(str(p) for p in error.instance_path)
            if kind == "Type":
                raise ApiError(422, "schema_violation", f"字段 {where or '(整体)'} 的类型不对。")
            unknown = "、".join(re.findall(r"'([^']+)' (?:was|were) unexpected", error.message))
            raise ApiError(422, "schema_violation", f"有接口不认识的字段：{unknown or where}。")
