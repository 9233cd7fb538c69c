"""Real mail servers on loopback for tests: Dovecot (IMAP) and aiosmtpd (SMTP).

``dovecot_server()`` starts Debian's ``dovecot`` with a private configuration in a temporary
folder, unprivileged, on a free port; any user name logs in with ``DOVECOT_PASSWORD`` and gets
its own empty Maildir, so every test can use a fresh mailbox. ``smtp_server()`` runs aiosmtpd
in this process and keeps every message it accepts. Both skip the test when the server is
not installed (and fail in CI: see ``tests.support.services.missing_service``).

Recipe: ../shared/recipes/real-mail-servers.md.
"""

import asyncio
import contextlib
import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from tests.support.services import free_port, missing_service

DOVECOT_PASSWORD = "mail-test-password"
MAIL_USER = "mailtest"


def _dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
    )


def _service_user() -> pwd.struct_passwd:
    """Who Dovecot runs as: ``mailtest`` (created if missing) when we are root, else us."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(MAIL_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", MAIL_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(MAIL_USER)


@dataclass
class Dovecot:
    host: str
    port: int
    folder: Path

    def connect(self, user: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=30)
        imap.login(user, DOVECOT_PASSWORD)
        return imap

    def settings(self, user: str, **extra) -> dict:
        """``ChannelSource.settings`` of an ``email_imap`` channel reading this user's INBOX."""
        return {
            "host": self.host,
            "port": self.port,
            "username": user,
            "mailbox": "INBOX",
            "ssl": False,
            **extra,
        }


def _config(folder: Path, port: int, user: pwd.struct_passwd) -> str:
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user.pw_name}
default_internal_group = {user.pw_name}
default_login_user = {user.pw_name}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
service auth {{
  user = {user.pw_name}
}}
service auth-worker {{
  user = {user.pw_name}
}}
passdb {{
  driver = static
  args = password={DOVECOT_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={user.pw_uid} gid={user.pw_gid} home={folder}/mail/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = {user.pw_uid}
mail_fsync = never
"""


@contextlib.contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    binary = _dovecot_binary()
    if binary is None:
        missing_service("Dovecot is not installed (apt-get install dovecot-imapd)")
    user = _service_user()
    folder = Path(tempfile.mkdtemp(prefix="cx-dovecot-"))
    for sub in ("run", "state", "mail"):
        (folder / sub).mkdir()
    os.chmod(folder, 0o755)  # noqa: S103 (the unprivileged server must reach its files)
    port = free_port()
    conf = folder / "dovecot.conf"
    conf.write_text(_config(folder, port, user))
    if os.geteuid() == 0:
        for path in (folder, *folder.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        start = ["su", user.pw_name, "-s", "/bin/sh", "-c", f"{binary} -c {conf}"]
    else:
        start = [binary, "-c", str(conf)]
    # The daemon inherits our stdout/stderr: a pipe there would never reach EOF.
    errors = folder / "start.err"
    with open(errors, "wb") as err:
        result = subprocess.run(start, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    if result.returncode != 0:
        reason = errors.read_text(errors="replace").strip()
        shutil.rmtree(folder, ignore_errors=True)
        missing_service(f"Dovecot did not start: {reason}")
    try:
        server = Dovecot("127.0.0.1", port, folder)
        deadline = time.monotonic() + 10
        while True:
            try:
                server.connect("probe").logout()
                break
            except OSError:
                if time.monotonic() > deadline:
                    log = (folder / "dovecot.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"Dovecot is not answering on {port}: {log}") from None
                time.sleep(0.1)
        yield server
    finally:
        subprocess.run([binary, "-c", str(conf), "stop"], capture_output=True)
        # Dovecot's master removes its pid file once every child has gone.
        deadline = time.monotonic() + 10
        while (folder / "run" / "master.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(folder, ignore_errors=True)


def imap_append(
    imap: imaplib.IMAP4, raw: bytes, *, mailbox: str = "INBOX", flags: str = ""
) -> None:
    status, answer = imap.append(mailbox, flags or None, None, raw)
    assert status == "OK", answer


def make_mail(
    n: int,
    *,
    sender: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    date: str = "Fri, 01 May 2026 09:30:00 +0000",
) -> bytes:
    """A plain customer email, as bytes for APPEND."""
    message = EmailMessage()
    message["From"] = sender or f"Customer {n} <customer{n}@example.com>"
    message["To"] = "support@brand.example"
    message["Subject"] = subject if subject is not None else f"Question number {n}"
    message["Date"] = date
    message["Message-ID"] = message_id or f"<msg-{n}@example.com>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body if body is not None else f"Hello, this is message {n}.\n")
    return message.as_bytes()


# SMTP ------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: str = ""  # an SMTP reply such as "550 No such user" for every RCPT
    delay: float = 0.0  # seconds to think before accepting a message

    def settings(self, **extra) -> dict:
        """The outbound part of an ``email_imap`` channel's settings sending through here."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_username": "",
            "from_address": "support@brand.example",
            **extra,
        }


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.server.refuse:
            return self.server.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        content = envelope.original_content.replace(b"\r\n", b"\n")
        self.server.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server(*, authenticate: tuple[str, str] | None = None) -> Iterator[SmtpServer]:
    """aiosmtpd in this process on 127.0.0.1 and a free port. ``authenticate=(user,
    password)`` makes it require AUTH with those credentials (plain text: loopback only)."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
    except ImportError:
        missing_service("aiosmtpd is not installed (pip install aiosmtpd)")
    server = SmtpServer("127.0.0.1", 0)
    kwargs: dict = {}
    if authenticate:

        def check(smtp, session, envelope, mechanism, auth_data):
            ok = (auth_data.login, auth_data.password) == (
                authenticate[0].encode(),
                authenticate[1].encode(),
            )
            return AuthResult(success=ok)

        kwargs = {"authenticator": check, "auth_required": True, "auth_require_tls": False}
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    # aiosmtpd 1.4 cannot start on port 0 (it connects to its own port to check it is up).
    server.port = free_port()
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
