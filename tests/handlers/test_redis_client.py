"""The one Redis factory: URLs of one server, of Sentinel, and the embedded default.
(The failover itself: tests/system/test_sentinel.py.)"""

import pytest
from redis.sentinel import SentinelConnectionPool

from handlers.redis_client import connect, parse_sentinel_url


def test_sentinel_urls_name_sentinels_master_db_and_passwords():
    t = parse_sentinel_url("redis+sentinel://:s3cret@10.0.0.1:26379,[::1]:26380/gc/2")
    assert t.sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert (t.master, t.db, t.password, t.sentinel_password) == ("gc", 2, "s3cret", None)
    assert (
        parse_sentinel_url("redis+sentinel://h:1/gc?sentinel_password=x").sentinel_password == "x"
    )
    assert parse_sentinel_url("redis+sentinel://h:1/gc").db == 0


@pytest.mark.parametrize(
    "bad",
    [
        "redis+sentinel://h:1/",
        "redis+sentinel://h/gc",
        "redis+sentinel://h:1/gc/x",
        "redis://h:1/0",
    ],
)
def test_bad_sentinel_urls_are_refused(bad):
    with pytest.raises(ValueError):
        parse_sentinel_url(bad)


def test_a_sentinel_url_gives_a_client_that_asks_sentinel(tmp_path):
    client = connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/gc/3", tmp_path)
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.service_name == "gc"
    assert client.connection_pool.connection_kwargs["db"] == 3


def test_every_client_retries_a_dropped_connection(redis_url, tmp_path):
    client = connect(redis_url, tmp_path)
    assert client.ping()
    assert client.get_retry().get_retries() == 5
