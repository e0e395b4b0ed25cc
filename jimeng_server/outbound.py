"""Requests the server makes to addresses its clients chose (webhooks, upstream image URLs): only
http(s), never to loopback, private, link-local or metadata addresses (unless an operator allows a
network), re-checked on every redirect, with a size cap and a timeout."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

MAX_REDIRECTS = 5
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class OutboundBlocked(Exception):
    """The URL may not be fetched; the message says why, for the client."""


@dataclass
class Fetched:
    status_code: int
    content: bytes
    url: str


def _allowed_networks():
    return [ipaddress.ip_network(net, strict=False) for net in settings.OUTBOUND_ALLOWED_NETWORKS]


def address_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return False
    return (
        ip in METADATA
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_check(url: str, *, resolve: bool = True, must_resolve: bool = True) -> None:
    """Raise OutboundBlocked unless `url` is http(s) to a public address. With `must_resolve`
    False a name that does not resolve here passes (someone else will fetch it)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise OutboundBlocked("not a valid URL") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise OutboundBlocked("only http and https URLs are allowed")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    elif host.lower() == "localhost" or host.lower().endswith(".localhost"):
        addresses = [ipaddress.ip_address("127.0.0.1")]
    elif not resolve:
        return
    else:
        try:
            infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            if must_resolve:
                raise OutboundBlocked(f"the host {host} does not resolve") from None
            return
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if address_blocked(address):
            raise OutboundBlocked(f"{host} is a loopback, private, link-local or metadata address ({address})")


def fetch(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict | None = None,
    max_bytes: int,
    timeout: float,
    session: requests.Session | None = None,
) -> Fetched:
    """One request, following redirects by hand so that each hop is checked again."""
    session = session or requests
    for _ in range(MAX_REDIRECTS + 1):
        url_check(url)
        with session.request(
            method, url, data=data, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        ) as response:
            if response.is_redirect and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                if response.status_code in {301, 302, 303}:
                    method, data = "GET", None
                continue
            chunks, total = [], 0
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise OutboundBlocked(f"the answer is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return Fetched(response.status_code, b"".join(chunks), url)
    raise OutboundBlocked(f"more than {MAX_REDIRECTS} redirects")
