"""Webhooks can't reach inside the network: every spelling of a non-public address is
refused at registration and at send time, names are resolved once and pinned, redirects
are not followed, and a slow receiver meets a deadline.

The only fake here is the DNS answer (an injected resolver); connections are real.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select

from feedback.config import Config, ConfigError
from feedback.delivery import netguard, webhooks
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage, WebhookEndpoint
from feedback.delivery.worker import DeliverySettings, deliver_due
from tests.factories import NOW, PASSWORD, make_owner, make_response, make_workspace
from tests.pages import csrf_token_from
from tests.support.delivery import Clock
from tests.support.servers import Receiver

INSIDE = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://127.0.0.1:5432/",
    "http://2130706433:8000/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",  # hex, short form
    "http://0x7f000001/",
    "http://0177.0.0.1/",  # octal
    "http://017700000001/",
    "http://127.1/",  # short form
    "http://127.0.0.1./",  # trailing dot
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[2002:c0a8:101::1]/",  # 6to4 around 192.168.1.1
    "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[fe80::1%25eth0]/",  # link-local with a zone id
    "http://[fe80::1]/",
    "http://[fc00::1]/",  # unique local
    "http://[::]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",  # shared address space
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://198.18.0.1/",  # benchmarking
    "https://127.0.0.1:443/",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",
]


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"numeric host {host!r} must not be looked up")


@pytest.mark.parametrize("url", INSIDE)
def test_every_spelling_of_an_inside_address_is_refused_at_registration(db_session, url):
    workspace = make_workspace(db_session)
    with pytest.raises(webhooks.WebhookError, match="not a public address"):
        webhooks.register_webhook(
            db_session, workspace.id, url, ["response.created"], NOW, resolver=no_dns
        )


@pytest.mark.parametrize("url", INSIDE)
def test_every_spelling_of_an_inside_address_is_refused_at_send_time(url):
    # As if it had been registered before these checks existed: refused before connecting.
    with pytest.raises(netguard.DestinationRefused, match=r"^refused: .*not a public address"):
        netguard.post(url, b"{}", {}, resolver=no_dns)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:abc/",
        "http://[::1/",
        "http://a..b/",
        "http://1.2.3.4.5/",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://user:pw@example.com/",
        "http://" + "a" * 64 + ".example/",
    ],
)
def test_urls_that_do_not_parse_are_refused_not_raised(url):
    with pytest.raises(netguard.InvalidDestination):
        netguard.post(url, b"{}", {}, resolver=no_dns)


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2002:5db8:d822::1"]
)
def test_public_addresses_are_allowed(address):
    import ipaddress

    assert netguard.refusal(ipaddress.ip_address(address)) is None


def test_a_name_that_resolves_to_a_private_address_is_refused(db_session):
    workspace = make_workspace(db_session)
    for url in ("http://localhost:8000/h", "http://LOCALHOST./h"):
        with pytest.raises(webhooks.WebhookError, match="loopback"):
            webhooks.register_webhook(db_session, workspace.id, url, ["response.created"], NOW)

    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]  # one bad answer is enough

    with pytest.raises(webhooks.WebhookError, match="not a public address"):
        webhooks.register_webhook(
            db_session,
            workspace.id,
            "https://hooks.test/h",
            ["response.created"],
            NOW,
            resolver=mixed,
        )


def test_the_lan_opt_in_allows_private_networks_but_never_metadata_or_multicast():
    import ipaddress

    for allowed in ("127.0.0.1", "10.0.0.1", "192.168.1.5", "100.64.1.1", "fd00::1"):
        assert netguard.refusal(ipaddress.ip_address(allowed), allow_private=True) is None
    for refused in ("169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "240.0.0.1"):
        assert netguard.refusal(ipaddress.ip_address(refused), allow_private=True)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def queue_webhook(db_session, url):
    """An endpoint stored as is (as if registered before the checks) and one call to it."""
    workspace = make_workspace(db_session)
    endpoint = WebhookEndpoint(
        workspace_id=workspace.id, url=url, events="response.created", secret="s" * 64
    )
    db_session.add(endpoint)
    db_session.commit()
    webhooks.enqueue_events(db_session, workspace.id, ["response.created"], {"n": 1}, NOW)
    db_session.commit()
    return workspace


def deliver(db_session, **settings):
    options = {"mail_from": "x@example.com", "retry_base_seconds": 60, "max_attempts": 3}
    return deliver_due(
        db_session,
        SmtpMailer("127.0.0.1", 9),
        DeliverySettings(**(options | settings)),
        Clock(NOW),
    )


def the_call(db_session):
    db_session.expire_all()
    return db_session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))


def test_dns_rebinding_is_refused_at_send_time(db_session, receiver):
    """Public when registered, 127.0.0.1 when sent: the send-time answer is checked."""
    workspace = make_workspace(db_session)
    port = receiver.server.server_address[1]
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    webhooks.register_webhook(
        db_session,
        workspace.id,
        f"http://rebind.test:{port}/hook",
        ["response.created"],
        NOW,
        resolver=rebinding,
    )
    db_session.commit()
    make_response(db_session, workspace)
    assert deliver(db_session, webhook_resolver=rebinding).retrying == 1
    assert receiver.requests == []
    assert the_call(db_session).last_error == "refused: a loopback address, not a public address"


def test_the_connection_goes_to_the_checked_address_with_the_names_host_header(
    db_session, receiver
):
    """The name is resolved once; the socket goes to that address (the system resolver,
    which doesn't know `hooks.test`, is never asked)."""
    port = receiver.server.server_address[1]
    queue_webhook(db_session, f"http://hooks.test:{port}/hook?x=1")
    lookups = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    report = deliver(db_session, webhook_resolver=resolver, webhook_allow_private=True)
    assert report.sent == 1
    assert lookups == ["hooks.test"]
    [(headers, _body)] = receiver.requests
    assert headers["Host"] == f"hooks.test:{port}"


def test_redirects_are_not_followed(db_session, receiver):
    target = Receiver()
    try:
        receiver.status = 302
        receiver.location = target.url
        queue_webhook(db_session, receiver.url)
        assert deliver(db_session, webhook_allow_private=True).retrying == 1
        assert target.requests == []
        assert the_call(db_session).last_error.startswith("failed (HTTP 302")
    finally:
        target.close()


class TcpServer:
    """A raw TCP server on 127.0.0.1 running `handle(connection)` for each client."""

    def __init__(self, handle) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for connection in self.connections:
            connection.close()


def test_a_receiver_that_trickles_its_answer_meets_the_deadline(db_session):
    def trickle(connection: socket.socket) -> None:
        connection.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                connection.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass

    server = TcpServer(trickle)
    try:
        queue_webhook(db_session, f"http://127.0.0.1:{server.port}/")
        started = time.monotonic()
        report = deliver(
            db_session,
            webhook_allow_private=True,
            webhook_connect_timeout=1,
            webhook_total_timeout=2,
        )
        assert time.monotonic() - started < 6
        assert report.retrying == 1
        assert the_call(db_session).last_error == "failed (timeout)"
    finally:
        server.close()


def test_what_a_private_port_answers_never_reaches_the_owner(db_session):
    def banner(connection: socket.socket) -> None:
        connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        connection.close()

    server = TcpServer(banner)
    try:
        queue_webhook(db_session, f"http://127.0.0.1:{server.port}/")
        deliver(db_session, webhook_allow_private=True)
        error = the_call(db_session).last_error
        assert error == "failed (connection failed)"
    finally:
        server.close()


def test_owners_see_refused_in_the_form_and_on_the_delivery_page(client, db_session, auth):
    user, workspace = make_owner(db_session)
    db_session.add(
        WebhookEndpoint(
            workspace_id=workspace.id,
            url="http://127.0.0.1:5432/",
            events="response.created",
            secret="s" * 64,
        )
    )
    db_session.commit()
    webhooks.enqueue_events(db_session, workspace.id, ["response.created"], {"n": 1}, NOW)
    db_session.commit()
    deliver(db_session, max_attempts=1)
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    assert "refused: a loopback address, not a public address" in page.text
    refused = client.post(
        "/settings/webhooks",
        data={
            "csrf_token": csrf_token_from(client.get("/settings/webhooks")),
            "url": "http://169.254.169.254/latest/meta-data/",
            "events": ["response.created"],
        },
    )
    assert refused.status_code == 422
    assert "Refused: a link-local address, not a public address." in refused.text


def test_the_lan_opt_in_is_a_setting_off_by_default(app, client, db_session, auth):
    assert Config.from_env({}).WEBHOOK_ALLOW_PRIVATE_NETWORKS is False
    assert Config.from_env({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"}).WEBHOOK_ALLOW_PRIVATE_NETWORKS
    with pytest.raises(ConfigError):
        Config.from_env({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "maybe"})
    user, _workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    data = {
        "csrf_token": csrf_token_from(client.get("/settings/webhooks")),
        "url": "http://192.168.1.20:8080/hooks",
        "events": ["response.created"],
    }
    assert client.post("/settings/webhooks", data=data).status_code == 422
    app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = True
    assert client.post("/settings/webhooks", data=data).status_code == 302
