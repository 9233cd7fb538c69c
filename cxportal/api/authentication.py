"""Partner apps authenticate with ``Authorization: Api-Key <prefix.secret>``.

The client's row is cached per key prefix for ``CLIENT_CACHE_SECONDS`` (Django's cache:
Redis in production), so a partner's requests cost no authentication query; the key's hash
is still checked on every request. Every save or delete of an APIClient (its services, the
admin) drops the entry at once, so a revoked key or a removed scope holds from the next
request. ``QuerySet.update()`` sends no signal: call ``api_client_cache_forget`` after one.
"""

from django.core.cache import cache
from django.db import router, transaction
from rest_framework import authentication, exceptions

from cxportal.models import APIClient
from cxportal.services import api_client_touch

KEYWORD = "Api-Key"
CLIENT_CACHE_SECONDS = 60
# What a request needs of its client: the key check, scopes, throttle rate, audit label, touch.
CACHED_FIELDS = (
    "id",
    "name",
    "prefix",
    "hashed_key",
    "scopes",
    "rate",
    "is_active",
    "last_used_at",
)


class APIClientPrincipal:
    """``request.user`` for a partner app: authenticated, never staff, no model permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, client: APIClient) -> None:
        self.api_client = client
        self.pk = None

    def get_username(self) -> str:
        return f"api:{self.api_client.name}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.get_username()


def _cache_key(prefix: str) -> str:
    return f"api-client:{prefix}"


def _cache_put(client: APIClient) -> None:
    data = {name: getattr(client, name) for name in CACHED_FIELDS}
    cache.set(_cache_key(client.prefix), data, CLIENT_CACHE_SECONDS)


def api_client_active_get(*, prefix: str) -> APIClient | None:
    """The active client with this key prefix, from the cache or (then cached) the database."""
    data = cache.get(_cache_key(prefix))
    if data is not None:
        if not data["is_active"]:
            return None
        fields = [f.attname for f in APIClient._meta.concrete_fields if f.attname in data]
        return APIClient.from_db(
            router.db_for_read(APIClient), fields, [data[name] for name in fields]
        )
    client = APIClient.objects.filter(prefix=prefix, is_active=True).only(*CACHED_FIELDS).first()
    if client is not None:
        _cache_put(client)
    return client


def api_client_cache_forget(*, prefix: str) -> None:
    """Drop a client's cached row now, and again when the changing transaction commits (a
    request in between may have cached the row as it was before the commit)."""
    if not prefix:
        return
    cache.delete(_cache_key(prefix))
    transaction.on_commit(lambda: cache.delete(_cache_key(prefix)))


def api_client_changed(sender, instance: APIClient, **kwargs) -> None:
    """post_save/post_delete receiver (connected in ``CxportalConfig.ready``)."""
    api_client_cache_forget(prefix=instance.prefix)


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = key.strip()
        prefix, _, _secret = key.partition(".")
        valid_prefix = (
            len(prefix) == APIClient.key_generator.prefix_length
            and prefix.isascii()
            and prefix.isalnum()
        )
        client = api_client_active_get(prefix=prefix) if valid_prefix else None
        if client is None or not APIClient.key_generator.verify(key, client.hashed_key):
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        seen = client.last_used_at
        api_client_touch(client=client)
        if client.last_used_at != seen:
            _cache_put(client)  # the cached copy knows the write, so the next one waits a minute
        return APIClientPrincipal(client), client

    def authenticate_header(self, request) -> str:
        return KEYWORD
