"""Reply texts: one file per reply, rendered for the chat or (without the chat's own instructions)
for the API; waits rounded one way."""

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
