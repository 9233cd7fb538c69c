"""One settings module, driven by environment variables.

Defaults give a working demo portal with nothing installed: SQLite and a real Celery
worker on kombu's filesystem transport. DATABASE_URL and REDIS_URL switch to PostgreSQL and
Redis. DJANGO_DEBUG=0 (with DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS) is production.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CXPORTAL_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
    SECRET_KEY = "dev-only-insecure-key-for-local-demo-never-use-in-production-0123456789"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG=0")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Layer order matters: core first, then customers < cases < feedback < campaigns.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "cxportal",
    "customers",
    "cases",
    "feedback",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cxportal.urls"
WSGI_APPLICATION = "cxportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cxportal.context_processors.navigation",
                "cxportal.context_processors.disruptions_banner",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'cxportal.sqlite3'}"
# Persistent connections are checked before a request or task reuses them, so a database
# restart costs the requests made while it is down, not the first one on each stale connection.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _sqlite = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (not :memory:) so a real Celery worker process in the tests can open it.
    DATABASES["default"]["TEST"] = {"NAME": str(_sqlite.with_name(f"test-{_sqlite.name}"))}
else:
    # PostgreSQL's JIT compiler pays off for long analytical queries, not for ours: it spent
    # seconds compiling the care scans' and the contact gate's big expressions, and once
    # minutes on an audience INSERT … SELECT that runs in 12 s without it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's, but an unreachable Redis is a cache miss, not a 500 (cxportal/cache.py).
            "BACKEND": "cxportal.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cxportal",
        }
    }
else:
    # Shared by the web server and the worker processes of the demo.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
# Redis: an unacknowledged task (its worker died) is redelivered after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 3600))
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(os.environ.get("CXPORTAL_BROKER_FOLDER", VAR_DIR / "broker"))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (the portal's and the admin's) and locks that username on
# that address out for a while; supervisors see and clear attempts in admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("CXPORTAL_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("CXPORTAL_LOGIN_LOCKOUT_MINUTES", 15)))
# Username and address together: a guesser is stopped without letting anyone lock a colleague
# out from elsewhere. Behind a proxy, REMOTE_ADDR must be the client's (set it in the proxy).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Development and tests serve static files straight from the apps; production from
# STATIC_ROOT after `collectstatic`.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cxportal.api.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cxportal.api.permissions.ActorPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["cxportal.api.throttling.ActorRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_client": os.environ.get("CXPORTAL_API_CLIENT_RATE", "600/min"),
        "staff": os.environ.get("CXPORTAL_STAFF_API_RATE", "1200/min"),
    },
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "cxportal.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cxportal.api.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CX Portal API",
    "DESCRIPTION": (
        "Partner and staff API. Partners authenticate with `Authorization: Api-Key <key>`; "
        "errors are `{message, code, errors}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set (channel and preferred_channel share one), and names that stay
    # unambiguous when other apps bring their own kinds and statuses.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "customers.models.Channel",
        "ContactPointKindEnum": "customers.models.ContactPoint.Kind",
        "ConsentStatusEnum": "customers.models.Consent.Status",
        "CaseStatusEnum": "cases.models.Status",
        "CasePriorityEnum": "cases.models.Priority",
        "CaseCategoryEnum": "cases.models.Category",
        "CaseEventKindEnum": "cases.models.CaseEvent.Kind",
        "DisruptionStatusEnum": "cases.models.Disruption.Status",
        "DisruptionKindEnum": "cases.models.Disruption.Kind",
        "DisruptionSeverityEnum": "cases.models.Disruption.Severity",
        "DisruptionUpdateKindEnum": "cases.models.DisruptionUpdate.Kind",
        "PlaceKindEnum": "customers.models.Place.Kind",
        "WebhookEventEnum": "cxportal.models.WebhookSubscription.EVENTS",
        "WebhookDeliveryStatusEnum": "cxportal.models.WebhookDelivery.Status",
        "SurveyKindEnum": "feedback.models.Survey.Kind",
        "SurveyTriggerEnum": "feedback.models.Survey.Trigger",
        "SurveyChannelEnum": "feedback.api.serializers.SURVEY_CHANNELS",
        "SurveyInvitationStatusEnum": "feedback.models.SurveyInvitation.Status",
        "ResponseCategoryEnum": "feedback.models.Response.Category",
        "IdeaStatusEnum": "feedback.models.Idea.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "CampaignChannelEnum": "campaigns.models.Campaign.Channel",
        "ReviewDecisionEnum": "campaigns.models.ReviewComment.Decision",
        "OpportunityStageEnum": "campaigns.models.Opportunity.Stage",
        "GateReasonEnum": "campaigns.api.serializers.GATE_REASONS",
    },
}

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60  # a working day; logging in again the next morning is fine
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the template (hx-headers), never JS
CSRF_COOKIE_SAMESITE = "Lax"
# Content Security Policy on every response: scripts and styles only from our own static files
# (no inline script anywhere); inline style *attributes* stay allowed for layout tweaks in
# templates, which cannot run code. Nothing loads from another origin.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host- cookies: HTTPS only, this host only, path / (no subdomain can set or read them).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # every login otherwise logs two INFO lines
    },
}

# Product settings
CXPORTAL_PAGE_SIZE = 25
FILTERS_EMPTY_CHOICE_LABEL = "Any"
CXPORTAL_DEFAULT_PHONE_REGION = os.environ.get("CXPORTAL_DEFAULT_PHONE_REGION", "GB")
CXPORTAL_WARRANTY_SOON_DAYS = 30
# The contact gate's default quiet hours (local time; supervisors change them in admin).
CXPORTAL_QUIET_HOURS = ("21:00", "08:00")
# Where customers open links we send them (survey pages): the portal's public address.
CXPORTAL_PUBLIC_URL = os.environ.get("CXPORTAL_PUBLIC_URL", "http://127.0.0.1:8000")
# Body limit of the bulk API endpoints only (their parser reads the body itself): room for
# 1,000 items with 64 KB bodies. Every other request keeps DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
CXPORTAL_BULK_MAX_BODY_BYTES = int(os.environ.get("CXPORTAL_BULK_MAX_BODY_BYTES", 96 * 1024 * 1024))
