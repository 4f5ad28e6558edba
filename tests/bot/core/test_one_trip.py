"""OneTrip: the per-message scripts on a connection the thread keeps, and what it does when the
plain case fails (the server forgot the script, the connection was cut)."""

from __future__ import annotations

import redis as redis_lib

from bot.core.state import OneTrip

ECHO = "redis.call('INCR', KEYS[1]); return {ARGV[1], redis.call('GET', KEYS[1])}"


def test_one_connection_per_thread_whatever_the_number_of_scripts(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.delete("one-trip:n")
    first, second = OneTrip(client, ECHO), OneTrip(client, "return KEYS[1]")
    assert first(["one-trip:n"], ["a"]) == [b"a", b"1"]
    assert second(["one-trip:k"], []) == b"one-trip:k"
    assert first.local is second.local and first.local.conn is not None


def test_a_forgotten_script_and_a_cut_connection_are_taken_in_stride(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.delete("one-trip:n")
    script = OneTrip(client, ECHO)
    assert script(["one-trip:n"], ["a"]) == [b"a", b"1"]
    client.script_flush()  # NOSCRIPT: loaded again, run once
    assert script(["one-trip:n"], ["b"]) == [b"b", b"2"]
    mine = script.local.conn
    mine.send_command("CLIENT", "ID")
    client.client_kill_filter(_id=mine.read_response())
    assert script(["one-trip:n"], ["c"]) == [b"c", b"3"]  # the cut connection is replaced
    assert script.local.conn is not mine
    assert script(["one-trip:n"], ["d"]) == [b"d", b"4"]
