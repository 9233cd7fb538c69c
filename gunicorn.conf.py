"""Gunicorn settings for the portal's web processes.

Run from the repository root, where gunicorn reads this file by itself::

    DJANGO_DEBUG=0 DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=portal.example \\
    DATABASE_URL=postgres://... REDIS_URL=redis://... gunicorn cxportal.wsgi

Threaded workers (``gthread``): about half of a page's time is PostgreSQL's, and a thread
waiting on the database lets the process's other threads run Python, so one process per core
with several threads each keeps the cores busy. On the 2-core machine, ``manage.py loadtest``
(50 staff users and a partner's ingest) had its best p95 with 2 processes × 8 threads, ahead
of 4 × 4, 3 × 4 and 5 × 1 (runs of 10 s, twice, on a machine busy with other jobs: re-measure
where you deploy). Each thread holds a database connection (``CONN_MAX_AGE``): 16 here.
Override with the environment (``WEB_CONCURRENCY``, ``GUNICORN_THREADS``, ``GUNICORN_BIND``)
or on the command line (``-w``, ``--threads``, ``-b``), which wins over this file.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
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
