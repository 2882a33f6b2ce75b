#!/usr/bin/env python3
"""SMTP test server for the almanac harness (started by scripts/harness/svc/smtp).

One process, three listeners, one asyncio loop:

* plain   -- no TLS, no AUTH (AUTH is not offered); delivers to <root>/plain
* tls     -- STARTTLS required before anything but EHLO/HELO/NOOP/QUIT;
             AUTH PLAIN/LOGIN required before MAIL (refused before STARTTLS);
             delivers to <root>/tls
* smtps   -- implicit TLS from the first byte, AUTH PLAIN/LOGIN required;
             delivers to <root>/smtps

Every accepted message is written as-is (raw bytes as received) to a Maildir
(<root>/<listener>/new/...), with these header lines prepended:

    X-Almanac-Listener: plain|tls|smtps
    X-Almanac-Auth-User: <login or "-">
    X-MailFrom: <envelope sender>
    X-RcptTo: <envelope recipients, comma separated>

Failure injection, decided at RCPT TO from the recipient's local part
(case-insensitive, any domain; shared across listeners for the process life):

    tempfail-once*  -> "451 4.3.0 try again" the first time that exact address
                       is seen, accepted afterwards (use a unique address per
                       test, e.g. tempfail-once+<uuid>@example.com)
    tempfail*       -> "451 4.3.0 try again" always
    permfail*       -> "550 5.1.1 mailbox unavailable" always
"""

import argparse
import asyncio
import logging
import mailbox
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


log = logging.getLogger("almanac-smtp")


class Handler:
    def __init__(self, name, maildir_path, state):
        self.name = name
        os.makedirs(os.path.dirname(maildir_path), exist_ok=True)
        self.maildir = mailbox.Maildir(maildir_path, create=True)
        self.state = state

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        key = address.lower()
        if local.startswith("tempfail-once"):
            if key not in self.state["tempfail_seen"]:
                self.state["tempfail_seen"].add(key)
                log.info("%s: 451 (once) for %s", self.name, address)
                return "451 4.3.0 try again"
        elif local.startswith("tempfail"):
            log.info("%s: 451 for %s", self.name, address)
            return "451 4.3.0 try again"
        elif local.startswith("permfail"):
            log.info("%s: 550 for %s", self.name, address)
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        user = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        if isinstance(user, bytes):
            user = user.decode("utf-8", "replace")
        head = (
            f"X-Almanac-Listener: {self.name}\r\n"
            f"X-Almanac-Auth-User: {user or '-'}\r\n"
            f"X-MailFrom: {envelope.mail_from}\r\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8")
        body = envelope.original_content or envelope.content
        if isinstance(body, str):
            body = body.encode("utf-8")
        key = self.maildir.add(head + body)
        log.info("%s: delivered %s from %s to %s (%d bytes)", self.name, key,
                 envelope.mail_from, envelope.rcpt_tos, len(body))
        return "250 OK message accepted"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        log.info("AUTH %s %s", mechanism, "ok" if ok else "failed")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--plain-port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--smtps-port", type=int, default=0, help="0 disables the SMTPS listener")
    ap.add_argument("--maildir-root", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--user", default="almanac")
    ap.add_argument("--password", required=True)
    args = ap.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(args.cert, args.key)

    state = {"tempfail_seen": set()}
    auth = Authenticator(args.user, args.password)
    root = os.path.abspath(args.maildir_root)
    h_plain = Handler("plain", os.path.join(root, "plain"), state)
    h_tls = Handler("tls", os.path.join(root, "tls"), state)
    h_smtps = Handler("smtps", os.path.join(root, "smtps"), state)

    def plain_factory():
        return SMTP(h_plain, hostname="localhost", ident="almanac-test-smtp plain")

    def tls_factory():
        return SMTP(h_tls, hostname="localhost", ident="almanac-test-smtp starttls",
                    tls_context=tls_ctx, require_starttls=True,
                    authenticator=auth, auth_required=True, auth_require_tls=True)

    def smtps_factory():
        # The transport is TLS already; aiosmtpd only knows about STARTTLS, so
        # AUTH-over-TLS is enforced by the listener itself (auth_require_tls off).
        return SMTP(h_smtps, hostname="localhost", ident="almanac-test-smtp smtps",
                    authenticator=auth, auth_required=True, auth_require_tls=False)

    async def serve():
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(plain_factory, args.host, args.plain_port),
            await loop.create_server(tls_factory, args.host, args.tls_port),
        ]
        if args.smtps_port:
            servers.append(await loop.create_server(smtps_factory, args.host, args.smtps_port,
                                                    ssl=tls_ctx))
        log.info("listening: plain=%s:%d starttls=%s:%d smtps=%s:%d maildirs under %s",
                 args.host, args.plain_port, args.host, args.tls_port, args.host,
                 args.smtps_port, root)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for s in servers:
            s.close()
        log.info("stopped")

    asyncio.run(serve())


if __name__ == "__main__":
    main()
