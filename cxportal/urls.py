from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

import feedback.views_public
from campaigns import views_tracking
from customers.webhooks import webhook_receive
from cxportal import views
from cxportal.api.exceptions import json_not_found

api_v1 = [
    path("", include("customers.api.urls")),
    path("", include("cases.api.urls")),
    path("", include("feedback.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("cxportal.api.webhooks")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("home/<slug:slug>/", views.team_home, name="team_home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", include("customers.urls")),
    path("cases/", include("cases.urls")),
    path("care/", include("cases.urls_care")),
    path("disruptions/", include("cases.urls_disruptions")),
    path("channels/", include("customers.urls_channels")),
    path("feedback/", include("feedback.urls")),
    path("campaigns/", include("campaigns.urls")),
    # The public survey page customers open from the link we send (no login).
    path("s/<str:token>/", feedback.views_public.answer, name="survey_answer"),
    # Campaign email tracking: an open pixel and signed click redirects (public).
    path("t/o/<str:token>.gif", views_tracking.track_open, name="track_open"),
    path("t/c/<str:token>/", views_tracking.track_click, name="track_click"),
    # Channel providers push messages here (signed; see customers/webhooks.py).
    path("webhooks/<slug:slug>/", webhook_receive, name="webhook_receive"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # The API's description is public on purpose: partners read it before they have a key.
    path(
        "api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"
    ),
    # The split view serves its script as a file; Swagger UI still adds <style> elements as it
    # draws, so this one page (no user content on it) allows inline styles.
    path(
        "api/docs/",
        csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", permission_classes=[AllowAny]
            )
        ),
        name="api-docs",
    ),
    # Anything else under /api/ answers in the API's error format.
    re_path(r"^api/", json_not_found),
]

# An unexpected error answers in the API's error format under /api/, a plain page elsewhere.
handler500 = "cxportal.views.server_error"

admin.site.site_header = "CX Portal administration"
admin.site.site_title = "CX Portal admin"
admin.site.index_title = "Supervisor tools"
