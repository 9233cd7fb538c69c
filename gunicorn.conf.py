"""Gunicorn settings for the portal's web processes.

Run from the repository root, where gunicorn reads this file by itself::

    DJANGO_DEBUG=0 DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=portal.example \\
    DATABASE_URL=postgres://... REDIS_URL=redis://... gunicorn cxportal.wsgi

Threaded workers (``gthread``), two processes per core with two threads each. A page is
mostly Python (12 ms of CPU per request under load, against 1 ms in PostgreSQL), and one
process runs Python on one thread at a time: with many threads per process a request waits
for its neighbours' Python, not for a core. ``manage.py loadtest`` at 1M customers (50 staff
users, partner ingest, 2 cores, quiet machine) measured p95 537 ms with 2 processes × 8
threads, 351 ms with 4 × 2 before the all-teams case queue had its index, 116 ms with 4 × 2
after it, 112 ms with 6 × 1. Each thread holds a database connection (``CONN_MAX_AGE``): 8 on
2 cores. Override with the environment (``WEB_CONCURRENCY``, ``GUNICORN_THREADS``,
``GUNICORN_BIND``) or on the command line (``-w``, ``--threads``, ``-b``), which wins.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
# Browsers and the proxy in front reuse a connection between a user's clicks.
keepalive = 5
# A request still running after this is a bug to find, not a page to wait for.
timeout = 30
graceful_timeout = 20
# The TLS proxy in front sets X-Forwarded-Proto; settings.SECURE_PROXY_SSL_HEADER trusts it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No control socket (``gunicornc``): its default path is one per machine user, so two servers
# (a load test beside a developer's) would fight over it.
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
