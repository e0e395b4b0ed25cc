"""The one gate for requests to addresses that someone else chose (webhook receivers, the image
URLs an upstream returns, every redirect hop of either).

`target_check` owns "may we talk to this URL": it parses the URL strictly (refusing authorities that
two parsers could read differently), resolves the host once, and allows only globally routable
unicast addresses — unwrapping the IPv6 forms that carry an IPv4 address — unless an operator
exempts a network (OUTBOUND_ALLOWED_NETWORKS). `fetch` then connects to the very address that was
checked (no second DNS lookup, so no rebinding window), sends the host name in `Host` and TLS SNI,
checks every redirect hop the same way, caps the answer's size and bounds the whole exchange by one
deadline, however slowly the other side trickles bytes."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

MAX_REDIRECTS = 5
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never globally routable, whatever the standard library's tables say on this Python version.
_ALWAYS_BLOCKED = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT: cloud metadata services live here (100.100.100.200)
        "169.254.0.0/16",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "64:ff9b:1::/48",  # local-use NAT64
        "2001::/32",  # Teredo (unwrapped below too)
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECTS = {301, 302, 303, 307, 308}
# Characters no authority may hold: whitespace, controls, backslashes (some clients read "\" as "/"),
# percent signs (an encoded host byte) and "@" (userinfo: "public.example@127.0.0.1").
_BAD_AUTHORITY = re.compile(r"[\x00-\x20\x7f\\%@]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$")


class OutboundBlocked(Exception):
    """The URL may not be fetched; the message says why, for the client."""


class OutboundError(Exception):
    """The request was allowed but did not work out (refused, timed out, cut off, too large)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`) and what to say there."""

    url: str
    scheme: str
    host: str  # ASCII, lower-case: the Host header and the TLS server name
    port: int
    path: str  # path and query, as sent on the request line
    addresses: tuple[Address, ...]


@dataclass
class Fetched:
    status_code: int
    content: bytes
    url: str


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries: IPv4-mapped and -compatible, 6to4, NAT64, Teredo."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _routable(ip: Address) -> bool:
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _ALWAYS_BLOCKED)


def address_allowed(ip: Address) -> bool:
    """Globally routable unicast, including every IPv4 address it embeds; or in an exempt network."""
    if any(ip in network for network in _allowed_networks()):
        return True
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    if inner and all(any(v4 in network for network in _allowed_networks()) for v4 in inner):
        return True
    return _routable(ip) and all(_routable(v4) for v4 in inner)


def _allowed_networks():
    return [ipaddress.ip_network(net, strict=False) for net in settings.OUTBOUND_ALLOWED_NETWORKS]


def _parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or OutboundBlocked for anything two HTTP
    clients might read differently."""
    if not isinstance(url, str) or not url or re.search(r"[\x00-\x20\x7f\\]", url):
        raise OutboundBlocked("not a valid URL (whitespace, control characters or backslashes)")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise OutboundBlocked("not a valid URL") from None
    if parts.scheme not in {"http", "https"}:
        raise OutboundBlocked("only http and https URLs are allowed")
    authority = parts.netloc
    if not authority or _BAD_AUTHORITY.search(authority):
        raise OutboundBlocked("the URL's host part may not carry user info, '%', '\\' or spaces")
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?|([^:\[\]]+)(?::(\d{1,5}))?", authority)
    if match is None:
        raise OutboundBlocked("the URL's host or port is not valid")
    literal6, port6, name, port4 = match.groups()
    port_text = port6 if literal6 is not None else port4
    port = int(port_text) if port_text else (443 if parts.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise OutboundBlocked("the URL's port is not valid")
    if literal6 is not None:
        try:
            host = str(ipaddress.IPv6Address(literal6))
        except ValueError:
            raise OutboundBlocked("the URL's IPv6 address is not valid") from None
    else:
        host = _host_name(name)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


def _host_name(name: str) -> str:
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    try:
        host = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise OutboundBlocked("the URL's host name is not valid") from None
    if host.endswith(".") or _NUMERIC_HOST.match(host):
        # "localhost." or "127.1" / "0x7f.1" / "2130706433": names that resolvers read as other hosts
        raise OutboundBlocked("the URL's host name is not valid (trailing dot or a numeric shorthand)")
    if not all(_LABEL.match(label) for label in host.split(".")):
        raise OutboundBlocked("the URL's host name is not valid")
    return host


def target_check(url: str, *, must_resolve: bool = True) -> Target:
    """Parse, resolve once and check `url`. With `must_resolve` False a name that does not resolve
    here passes with no addresses (checked again when something fetches it)."""
    scheme, host, port, path = _parse(url)
    try:
        addresses: tuple[Address, ...] = (ipaddress.ip_address(host),)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            addresses = (ipaddress.ip_address("127.0.0.1"),)
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError):
                if must_resolve:
                    raise OutboundBlocked(f"the host {host} does not resolve") from None
                return Target(url, scheme, host, port, path, ())
            addresses = tuple(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    for address in addresses:
        if not address_allowed(address):
            raise OutboundBlocked(f"{host} is not a public address ({address}): loopback, private, shared or reserved")
    return Target(url, scheme, host, port, path, addresses)


def url_check(url: str, *, must_resolve: bool = True) -> None:
    """Raise OutboundBlocked unless `url` may be fetched (see `target_check`)."""
    target_check(url, must_resolve=must_resolve)


class _Deadline:
    """One time limit over a whole exchange: each blocking step gets what is left, and a watchdog
    cuts the connection when it runs out (a peer that trickles a byte at a time never resets it)."""

    def __init__(self, seconds: float):
        self.ends = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def left(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            self.expired = True
            raise OutboundError("timed out")
        return left

    def _cut(self) -> None:
        self.expired = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()


def _connect(target: Target, deadline: _Deadline) -> socket.socket:
    error: OSError | None = None
    for address in target.addresses:
        # A socket of our own, connected to the address itself: socket.create_connection would
        # hand the text to getaddrinfo once more.
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.left())
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((str(address), target.port))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        if target.scheme == "https":
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                error = exc
                continue
        return sock
    raise OutboundError(f"could not connect to {target.host} ({error.__class__.__name__ if error else 'no address'})")


def _exchange(target, method, data, headers, deadline, max_bytes, truncate) -> tuple[int, str | None, bytes]:
    sock = _connect(target, deadline)
    deadline.sock = sock
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.host, target.port, timeout=deadline.left())
    connection.sock = sock  # the checked address, connected above; never looked up again
    try:
        connection.request(method, target.path, body=data, headers={**(headers or {}), "Connection": "close"})
        sock.settimeout(deadline.left())
        response = connection.getresponse()
        if response.status in _REDIRECTS and response.getheader("Location"):
            return response.status, response.getheader("Location"), b""
        chunks, total = [], 0
        while chunk := response.read1(64 * 1024):
            sock.settimeout(deadline.left())
            total += len(chunk)
            if total > max_bytes:
                if truncate:
                    chunks.append(chunk[: max_bytes - (total - len(chunk))])
                    break
                raise OutboundBlocked(f"the answer is larger than {max_bytes} bytes")
            chunks.append(chunk)
        if deadline.expired:  # the watchdog cut the connection: what was read is not the answer
            raise OutboundError("timed out")
        return response.status, None, b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        # Every blocking step waits at most the time left, so its timeout is the deadline too.
        if deadline.expired or isinstance(exc, TimeoutError):
            raise OutboundError("timed out") from None
        raise OutboundError(f"the connection to {target.host} failed ({exc.__class__.__name__})") from None
    finally:
        connection.close()


def fetch(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict | None = None,
    max_bytes: int,
    timeout: float,
    truncate: bool = False,
) -> Fetched:
    """One request, every redirect hop checked again, all within `timeout` seconds in total. An
    answer over `max_bytes` raises OutboundBlocked, or with `truncate` is cut there."""
    with _Deadline(timeout) as deadline:
        for _ in range(MAX_REDIRECTS + 1):
            target = target_check(url)
            status, location, content = _exchange(target, method, data, headers, deadline, max_bytes, truncate)
            if location is None:
                return Fetched(status, content, url)
            url = urljoin(url, location)
            if status in {301, 302, 303}:
                method, data = "GET", None
    raise OutboundBlocked(f"more than {MAX_REDIRECTS} redirects")
