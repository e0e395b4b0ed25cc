"""Who is really calling. A reverse proxy on the same host makes every internet request arrive from
loopback, and loopback is where an embedded server needs no API key: so a request that carries
forwarding headers (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`), or that arrives from a configured
proxy (TRUSTED_PROXIES), is never local. Forwarding headers are believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings

_FORWARDING = ("HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_")
FORWARDED_FLAG = "jimeng.forwarded"  # set in request.META by TrustedProxyHeaders


@cache
def _trusted(networks: tuple[str, ...]):
    return [ipaddress.ip_network(net, strict=False) for net in networks]


def _address(text: str | None):
    try:
        return ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None


def _is_trusted(address) -> bool:
    return address is not None and any(address in net for net in _trusted(tuple(settings.TRUSTED_PROXIES)))


def _carries_forwarding(meta) -> bool:
    return any(name.startswith(_FORWARDING) for name in meta)


def from_trusted_proxy(meta) -> bool:
    return _is_trusted(_address(meta.get("REMOTE_ADDR")))


def is_local(request) -> bool:
    """A request from this machine itself, not relayed by a proxy."""
    meta = request.META
    peer = _address(meta.get("REMOTE_ADDR"))
    if peer is None or not peer.is_loopback or from_trusted_proxy(meta):
        return False
    return not meta.get(FORWARDED_FLAG) and not _carries_forwarding(meta)


def client_ip(request) -> str | None:
    """The caller's address: the peer's, or from a trusted proxy, the nearest address it forwarded for
    that is not itself a trusted proxy (django-axes locks out by this)."""
    meta = request.META
    if from_trusted_proxy(meta):
        hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is not None and not _is_trusted(address):
                return str(address)
    return meta.get("REMOTE_ADDR")


class TrustedProxyHeaders:
    """First of the middleware: remembers that a request was forwarded, and drops X-Forwarded-Proto
    (which makes Django call a request secure) unless a trusted proxy sent it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if _carries_forwarding(meta):
            meta[FORWARDED_FLAG] = True
            if not from_trusted_proxy(meta):
                meta.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)
