"""Errors of the mini-program API: one exception, one JSON shape
`{"error": {"code": "stable_code", "message": "中文"}}`, and the request-body readers that raise it."""

from __future__ import annotations

import re

from flask import jsonify, request

from bot.appeals.intake import check_photo


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, Chinese message, extra fields."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None, **extra
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after
        self.extra = extra


def error_response(exc: ApiError):
    """The JSON response of an ApiError (with Retry-After when it has one)."""
    body = {"code": exc.code, "message": exc.message, **exc.extra}
    headers = {}
    if exc.retry_after is not None:
        body["retry_after"] = int(exc.retry_after)
        headers["Retry-After"] = str(int(exc.retry_after))
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return jsonify(error=body), exc.status, headers


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    """A 400 for input that does not fit the documented shape."""
    return ApiError(400, code, message)


def json_body() -> dict:
    """The JSON object sent (an empty body counts as `{}`)."""
    if not request.get_data(cache=True):
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "请用 application/json 提交。")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise bad_request("请求内容不是有效的 JSON 对象。", "bad_json")
    return data


def form_or_json() -> dict:
    """Fields of a multipart form or of a JSON object."""
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return {k: v for k, v in request.form.items()}
    return json_body()


def text_field(
    data: dict,
    name: str,
    *,
    max_length: int,
    required: bool = True,
    min_length: int = 1,
    pattern: str | None = None,
) -> str | None:
    """A string field, stripped; 400 when missing, of another type, too short or too long."""
    value = data.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise bad_request(f"缺少 {name}。", "missing_field")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} 应该是字符串。", "bad_field")
    value = value.strip()
    if not min_length <= len(value) <= max_length:
        raise bad_request(f"{name} 的长度应为 {min_length} 到 {max_length} 个字符。", "bad_field")
    if pattern and not re.fullmatch(pattern, value):
        raise bad_request(f"{name} 的格式不对。", "bad_field")
    return value


def int_field(data: dict, name: str, low: int, high: int) -> int:
    """An integer field within [low, high] (a numeric string is accepted from forms)."""
    value = data.get(name)
    if isinstance(value, str) and re.fullmatch(
        r"[0-9]{1,6}", value.strip()
    ):  # not "²": isdigit() is too wide
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{name} 应为 {low} 到 {high} 之间的整数。", "bad_field")
    return value


def photo_uploads(field: str, limit: int) -> list[bytes]:
    """The JPEG/PNG files of a multipart field, each checked as chat photos are (413 / 422)."""
    uploads = [f for name, f in request.files.items(multi=True) if name == field]
    if len(uploads) > limit:
        raise bad_request(f"一次最多上传{limit}张照片。", "too_many_photos")
    photos = []
    for upload in uploads:
        data = upload.read()
        problem = check_photo(data)
        if problem == "too_large":
            raise ApiError(413, "photo_too_large", "照片不能超过5MB。")
        if problem is not None:
            raise ApiError(422, "not_an_image", "只能上传 JPEG 或 PNG 照片。")
        photos.append(data)
    return photos
