"""Django's Redis cache, but a Redis outage is a cache miss, not a server error.

Redis is the broker and the cache. While it restarts, webhooks are still accepted (the
inbox is in the database) and the partner API must keep answering too: its key lookup and
throttle live in the cache. So reads return the default and writes are skipped while Redis
is unreachable, and the connection attempt is bounded. Deletes still raise: a delete is
how a revoked API key or a changed disruption banner takes effect at once, and failing it
loudly (the change rolls back) is safer than serving a stale entry once Redis is back.
"""

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        options = {"socket_connect_timeout": 1, "socket_timeout": 2, **params.get("OPTIONS", {})}
        super().__init__(server, {**params, "OPTIONS": options})

    def _unreachable(self, operation: str) -> None:
        logger.warning("Cache %s skipped: Redis is unreachable", operation, exc_info=True)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNREACHABLE:
            self._unreachable("get")
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNREACHABLE:
            self._unreachable("get_many")
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNREACHABLE:
            self._unreachable("has_key")
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE:
            self._unreachable("set")

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE:
            self._unreachable("set_many")
            return list(data)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE:
            self._unreachable("add")
            return False

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except UNREACHABLE:
            self._unreachable("touch")
            return False
