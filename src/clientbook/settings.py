"""Django settings. Everything that differs per installation comes from the
environment: DATABASE_URL (default: SQLite under var/), SECRET_KEY, DEBUG."""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("CLIENTBOOK_VAR", Path.cwd() / "var"))

DEBUG = os.environ.get("DEBUG", "") == "1"
SECRET_KEY = os.environ.get(
    "SECRET_KEY", "clientbook-insecure-development-key-change-me"
)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "clientbook.org",
    "clientbook.privacy",
    "clientbook.customers",
    "clientbook.sales",
    "clientbook.activity",
    "clientbook.ingest",
    "clientbook.identity",
    "clientbook.quality",
    "clientbook.analytics",
    "clientbook.segments",
    "clientbook.campaigns",
    "clientbook.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "clientbook.urls"
WSGI_APPLICATION = "clientbook.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        database = dj_database_url.parse(url, conn_max_age=60)
        if database["ENGINE"].endswith("postgresql"):
            # JIT compilation costs ~0.3 s per segment count and gains nothing
            # on short OLTP queries (measured in bench/segments.py).
            database.setdefault("OPTIONS", {})["options"] = "-c jit=off"
        # One test database per process, so that two test runs never share one.
        database["TEST"] = {"NAME": f"test_{database['NAME']}_{os.getpid()}"}
        return database
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "clientbook.sqlite3",
        "OPTIONS": {
            # WAL lets the web server read while an import or the worker writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # A file, not memory, so that tests can run a second process (a worker
        # killed mid-import) against the same test database.
        "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "org.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Assets are served from the installed package: no collectstatic, no CDN.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Background work runs in `clientbook worker`, queued in the database.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# A bulk API request carries up to 10,000 orders.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024

# E-mail: into files under var/mail-outbox unless an SMTP server is configured
# (CLIENTBOOK_EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend).
EMAIL_BACKEND = os.environ.get(
    "CLIENTBOOK_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = VAR_DIR / "mail-outbox"
EMAIL_HOST = os.environ.get("CLIENTBOOK_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("CLIENTBOOK_EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("CLIENTBOOK_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("CLIENTBOOK_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("CLIENTBOOK_EMAIL_TLS", "") == "1"
DEFAULT_FROM_EMAIL = os.environ.get(
    "CLIENTBOOK_EMAIL_FROM", "Clientbook <noreply@localhost>"
)

CLIENTBOOK = {
    "DEFAULT_CURRENCY": "CNY",
    "DEFAULT_PHONE_REGION": "CN",
    "API_BULK_LIMIT": 10_000,
    "SEARCH_LIMIT": 50,
    "IMPORT_DIR": VAR_DIR / "imports",
    # Rows a transaction of an import writes, at most, and cells: a wide
    # file's chunks hold fewer rows, so an import's memory does not grow with
    # its width. 10,000 rows of 7 columns against 5,000: 1M rows 6–10% faster,
    # ~140 MB more (bench/README.md, "Eleventh session").
    "IMPORT_CHUNK_ROWS": int(os.environ.get("CLIENTBOOK_IMPORT_CHUNK_ROWS", 10_000)),
    "IMPORT_CHUNK_CELLS": int(os.environ.get("CLIENTBOOK_IMPORT_CHUNK_CELLS", 70_000)),
    # Processes that parse import chunks (ingest/parallel.py); unset: one a core.
    # "IMPORT_WORKERS": 2,
    # Duplicate detection (identity/config.py): Splink on DuckDB, or Spark.
    "DEDUPE_BACKEND": os.environ.get("CLIENTBOOK_DEDUPE_BACKEND", "duckdb"),
    "DEDUPE_AUTO_MERGE_ABOVE": 0.99,
    "DEDUPE_REVIEW_ABOVE": 0.80,
    # DuckDB's memory for a run, past which it spills to DEDUPE_SPILL_DIR
    # (its own defaults: 80% of the machine's RAM, and the current
    # directory). 1M customers took 2.3 GB of the process in all.
    "DEDUPE_MEMORY_LIMIT": os.environ.get("CLIENTBOOK_DEDUPE_MEMORY_LIMIT", "4GB"),
    "DEDUPE_SPILL_DIR": VAR_DIR / "dedupe-spill",
    # Data quality (quality/config.py): richness attributes, grade thresholds,
    # verification share; the defaults are the seeds' (8% a month, 3 selections).
    "QUALITY": {},
    # Campaigns: the address links in messages point at, the webhook's
    # shared secret (empty: the webhook refuses everything), sending.
    "BASE_URL": os.environ.get("CLIENTBOOK_BASE_URL", "http://127.0.0.1:8000"),
    "CAMPAIGN_WEBHOOK_SECRET": os.environ.get("CLIENTBOOK_CAMPAIGN_WEBHOOK_SECRET", ""),
    "CAMPAIGN_SEND_BATCH": 50,
    "CAMPAIGNS": {"RESPONSE_TARGET": "0.05"},  # the postal plan's 5% KPI
    # PostgreSQL work_mem for set-based work over the whole customer base
    # (campaign selections): enough to hash a million customer ids.
    "BULK_WORK_MEM": "256MB",
    "SMS": {
        # FileOutbox writes JSON lines under var/sms-outbox (the demo's);
        # HttpProvider POSTs JSON to URL with TOKEN as a bearer token.
        "BACKEND": os.environ.get(
            "CLIENTBOOK_SMS_BACKEND", "clientbook.campaigns.channels.sms.FileOutbox"
        ),
        "OUTBOX_DIR": None,
        "URL": os.environ.get("CLIENTBOOK_SMS_URL", ""),
        "TOKEN": os.environ.get("CLIENTBOOK_SMS_TOKEN", ""),
        "TIMEOUT": 10,
        "SIGNATURE": "【茗康茶业】",
        "OPT_OUT_TEXT": "回T退订",
        "MAX_PARTS": 3,
    },
}
