"""The JSON API of the WeChat and Alipay mini-programs, under /api/v1.

This module owns the parent blueprint: the error format of every view below it, the OpenAPI
document, and the nested blueprints, one per resource (handlers/api_*.py). Views are thin: they
read the request, call the domain services (bot/services) or the engine, and shape the JSON.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from handlers.miniapp import appeals as api_appeals
from handlers.miniapp import binding as api_binding
from handlers.miniapp import certificates as api_certificates
from handlers.miniapp import chat as api_chat
from handlers.miniapp import login as api_session
from handlers.miniapp import lost as api_lost
from handlers.miniapp import proxies as api_proxies
from handlers.miniapp import verifications as api_verifications
from handlers.miniapp.errors import ApiError, error_response
from handlers.miniapp.openapi import document
from handlers.miniapp.schema import check_json_body

PREFIX = "/api/v1"
bp = Blueprint("miniapp", __name__, url_prefix=PREFIX)
log = logging.getLogger(__name__)

for child in (
    api_session.bp,
    api_chat.bp,
    api_binding.bp,
    api_certificates.bp,
    api_appeals.bp,
    api_lost.bp,
    api_proxies.bp,
    api_verifications.bp,
):
    bp.register_blueprint(child)

HTTP_CODES = {
    400: ("bad_request", "请求格式不对。"),
    404: ("not_found", "没有这个接口或资源。"),
    405: ("method_not_allowed", "这个接口不支持该请求方法。"),
    413: ("payload_too_large", "提交的内容太大了。"),
    415: ("unsupported_media_type", "不支持这种内容类型。"),
}


bp.before_request(check_json_body)  # type errors and unknown fields: 422, before any view


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(document())


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code, message = HTTP_CODES.get(exc.code or 500, ("http_error", "请求无法处理。"))
    return error_response(ApiError(exc.code or 500, code, message))


@bp.errorhandler(RedisError)
def _redis_down(exc: RedisError):
    log.error("redis unreachable in %s %s", request.method, request.path)
    return error_response(ApiError(503, "busy", "系统繁忙，请稍后再试。", retry_after=5))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(ApiError(500, "internal", "系统出错了，请稍后再试。"))


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(exc: HTTPException):
    """Unknown paths and methods under /api/v1 answer in JSON too (other paths are untouched)."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        return _http_error(exc)
    return exc
