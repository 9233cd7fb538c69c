"""Partner apps authenticate with ``Authorization: Api-Key <prefix.secret>``."""

from rest_framework import authentication, exceptions

from cxportal.models import APIClient
from cxportal.services import api_client_touch

KEYWORD = "Api-Key"


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


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = key.strip()
        prefix, _, _secret = key.partition(".")
        client = APIClient.objects.filter(prefix=prefix, is_active=True).first() if prefix else None
        if client is None or not APIClient.key_generator.verify(key, client.hashed_key):
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        api_client_touch(client=client)
        return APIClientPrincipal(client), client

    def authenticate_header(self, request) -> str:
        return KEYWORD
