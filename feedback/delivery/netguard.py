"""Where webhooks may go: public internet addresses only, checked when a URL is
registered and again at every send.

A webhook URL is chosen by a workspace owner, and the worker POSTs to it from
inside our network; without this module it could reach the database port, a
cloud metadata service or anything else only the server can see (SSRF). So:

- the host is read the way a resolver reads it: `0x7f.1`, `2130706433`,
  `0177.0.0.1` and `127.1` are all 127.0.0.1 to `inet_aton`, which is what
  `getaddrinfo` uses for numeric hosts;
- a name is resolved once, *every* address it has must be allowed, and the
  connection goes to the address that was checked (the name is not looked up a
  second time, so a DNS answer that changes between check and connect, "DNS
  rebinding", cannot slip past); TLS still verifies the certificate for the name;
- redirects are not followed, connecting is short, and a whole request has a
  deadline, so a receiver that answers a byte at a time cannot hold a worker.

A self-hoster whose receiver sits on their own LAN sets
`WEBHOOK_ALLOW_PRIVATE_NETWORKS=1`: loopback, RFC 1918, shared (100.64/10) and
unique-local IPv6 addresses are then allowed; link-local (the cloud metadata
service lives at 169.254.169.254), multicast, reserved and unspecified
addresses never are.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name has, as text; socket.getaddrinfo by default.
Resolver = Callable[[str, int], Sequence[str]]

# What the opt-in for LAN receivers allows on top of public addresses.
_LAN_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT, Tailscale)
        "::1/128",
        "fc00::/7",  # unique local IPv6
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class InvalidDestination(ValueError):
    """The URL cannot be used at all (no such port, broken brackets, empty labels...)."""


class DestinationRefused(ValueError):
    """The URL points at an address webhooks may not reach; the message says which kind."""


class DeliveryFailed(Exception):
    """The receiver could not be reached or did not answer in time; `reason` is short and safe."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Destination:
    """A parsed webhook URL: what to connect to and what to ask for."""

    scheme: str
    host: str  # an ASCII (IDNA) name, or an address as text
    port: int
    target: str  # path and query, as sent in the request line
    address: IPAddress | None  # set when the host is an address, however spelled


def parse_url(url: str) -> Destination:
    """Parse a webhook URL as the resolver would read its host; InvalidDestination if it can't."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError for "abc" or 99999
    except ValueError as error:
        raise InvalidDestination("not a valid URL") from error
    if parts.scheme not in ("http", "https"):
        raise InvalidDestination("use an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidDestination("no user name or password in the URL")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url.strip()):
        raise InvalidDestination("no spaces or control characters in the URL")
    host = parts.hostname or ""
    if not host:
        raise InvalidDestination("the URL has no host")
    if port == 0:
        raise InvalidDestination("not a valid port")
    address = literal_address(host)
    if address is None:
        host = _ascii_name(host)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        scheme=parts.scheme,
        host=str(address) if address is not None else host,
        port=port or (443 if parts.scheme == "https" else 80),
        target=target,
        address=address,
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling a resolver accepts; None for a name.

    Raises InvalidDestination for hosts that are neither (a zone id, a name
    ending in a number such as `1.2.3.4.5`).
    """
    host = host.strip("[]")
    if "%" in host:
        raise DestinationRefused("refused: an IPv6 zone id is not a public address")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as error:
            raise InvalidDestination("not a valid IPv6 address") from error
    if host.endswith("."):
        host = host[:-1]
    try:
        # inet_aton, like getaddrinfo, takes decimal, octal, hex and short forms.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        pass
    last = host.rsplit(".", 1)[-1]
    if last and re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", last, re.IGNORECASE):
        # Browsers and resolvers treat a numeric last label as an address: not a name.
        raise InvalidDestination("not a valid host")
    return None


def _ascii_name(host: str) -> str:
    # "example.com." (fully qualified) names the same host as "example.com".
    host = host[:-1] if host.endswith(".") else host
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError as error:  # empty labels ("a..b"), labels over 63 characters
        raise InvalidDestination("not a valid host name") from error
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidDestination("not a valid host name")
    return name


def refusal(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why webhooks may not go to `address`, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "an IPv6 zone id"
        if address.ipv4_mapped is not None or (address in _IPV4_COMPATIBLE and int(address) > 1):
            return "an IPv4 address written as IPv6"
        embedded = address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and refusal(embedded) is not None:
            return "an IPv6 address that embeds a non-public IPv4 address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if allow_private and any(address in network for network in _LAN_NETWORKS):
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a private or non-public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` has, as the system resolver answers."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def checked_addresses(
    destination: Destination, *, allow_private: bool, resolver: Resolver
) -> list[IPAddress]:
    """The destination's addresses, all allowed; DestinationRefused if any is not.

    DeliveryFailed("name does not resolve") when the name has no address.
    """
    if destination.address is not None:
        addresses: list[IPAddress] = [destination.address]
    else:
        try:
            answers = resolver(destination.host, destination.port)
        except (OSError, UnicodeError) as error:
            raise DeliveryFailed("name does not resolve") from error
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError as error:
                raise DestinationRefused("refused: the name resolves to a non-address") from error
        if not addresses:
            raise DeliveryFailed("name does not resolve")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise DestinationRefused(f"refused: {reason}, not a public address")
    return addresses


def check_for_registration(url: str, *, allow_private: bool, resolver: Resolver) -> None:
    """Refuse a URL that cannot be used or that points inside the network.

    A name that does not resolve yet is accepted (its DNS may come later);
    it is checked again at every send.
    """
    destination = parse_url(url)
    with contextlib.suppress(DeliveryFailed):
        checked_addresses(destination, allow_private=allow_private, resolver=resolver)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Sends `Host: <name>` but connects to the one address that was checked."""

    def __init__(self, destination: Destination, address: IPAddress, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self.pinned = str(address)
        self.raw_socket: socket.socket | None = None

    def connect(self) -> None:
        self.raw_socket = socket.create_connection((self.pinned, self.port), self.timeout)
        self.sock = self.raw_socket


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = http.client.HTTPS_PORT

    def __init__(self, destination: Destination, address: IPAddress, timeout: float) -> None:
        super().__init__(destination, address, timeout)
        self.tls = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        # The certificate is checked against the name in the URL, not the address.
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
    connect_timeout: float = 3.0,
    total_timeout: float = 10.0,
) -> int:
    """POST `body` to `url` if it is allowed; the HTTP status (redirects are not followed).

    Raises InvalidDestination, DestinationRefused, or DeliveryFailed with a
    short reason ("timeout", "connection failed", "name does not resolve").
    The receiver's own words are never returned: they could be a private
    service's banner.
    """
    destination = parse_url(url)
    address = checked_addresses(destination, allow_private=allow_private, resolver=resolver)[0]
    connection_class = (
        _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    )
    connection = connection_class(destination, address, connect_timeout)
    # A receiver that trickles bytes would keep every read inside its own
    # timeout; a timer cuts the socket when the whole request's time is up.
    lock = threading.Lock()
    finished = False
    expired = threading.Event()

    def cut() -> None:
        with lock:
            if finished or connection.raw_socket is None:
                expired.set()
                return
            expired.set()
            # By file descriptor: after wrap_socket the raw object is detached. The
            # view is detached again at once so that it never closes the descriptor.
            fd = connection.sock.fileno() if connection.sock else -1
            if fd < 0:
                return
            try:
                view = socket.socket(fileno=fd)
            except OSError:
                return
            try:
                view.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                view.detach()

    timer = threading.Timer(total_timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", destination.target, body=body, headers=dict(headers))
        response = connection.getresponse()
        return response.status
    except TimeoutError as error:
        raise DeliveryFailed("timeout") from error
    except (OSError, http.client.HTTPException, ValueError) as error:
        if expired.is_set():
            raise DeliveryFailed("timeout") from error
        raise DeliveryFailed("connection failed") from error
    finally:
        with lock:
            finished = True
            timer.cancel()
        connection.close()
