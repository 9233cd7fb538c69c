"""A throttle per partner client (its own rate, or the default) and per staff user."""

from rest_framework.throttling import SimpleRateThrottle


class ActorRateThrottle(SimpleRateThrottle):
    scope = "api_client"

    def allow_request(self, request, view) -> bool:
        client = getattr(request.user, "api_client", None)
        if client is not None:
            self.scope = "api_client"
            self.rate = client.rate or self.THROTTLE_RATES["api_client"]
        else:
            self.scope = "staff"
            self.rate = self.THROTTLE_RATES["staff"]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        return self.THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view) -> str | None:
        client = getattr(request.user, "api_client", None)
        if client is not None:
            ident = f"client-{client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
