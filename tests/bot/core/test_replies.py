"""Reply texts: one file per reply, rendered for the chat or (without the chat's own instructions)
for the API; waits rounded one way."""

import time

import pytest

from bot.core.replies import ReplyBook, minutes

WAITS = [(0, 1), (1, 1), (59, 1), (60, 1), (61, 2), (3599, 60), (3600, 60)]


@pytest.mark.parametrize("seconds, expected", WAITS)
def test_minutes_round_up_and_are_at_least_one(seconds, expected):
    assert minutes(seconds) == expected


def test_the_api_gets_the_chats_sentence_without_its_instructions():
    book = ReplyBook()
    chat, api = book.render("binding/no_match"), book.render("binding/no_match", surface="api")
    assert "回复1" in chat and "回复" not in api and chat.startswith(api)


def test_a_text_of_plain_values_is_rendered_once_and_kept_a_minute_at_most(monkeypatch):
    book = ReplyBook()
    calls = []
    real = book.env.get_template

    def counting(name):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(book.env, "get_template", counting)
    first = book.render("menu/main", status="已绑定：张*")
    assert book.render("menu/main", status="已绑定：张*") == first and len(calls) == 1
    assert book.render("menu/main", status="") != first and len(calls) == 2
    clock = [time.monotonic() + ReplyBook.KEEP_SECONDS + 1]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    assert book.render("menu/main", status="已绑定：张*") == first and len(calls) == 3
    book.render("menu/main", status=object())  # not a plain value: never kept
    book.render("menu/main", status=object())
    assert len(calls) == 5
