"""Volcengine's visual API as Jimeng speaks it: the official SDK's client, one per account (its
`VisualService` is a singleton whose constructor resets host, scheme and keys: it is built and
configured here and nowhere else), and every outcome — business codes, gateway errors, the SDK's bare
exceptions, timeouts — classified into retry or fail with a message a user can read."""

from __future__ import annotations

import ast
import json
import threading

from django.conf import settings

from .base import Account, UpstreamError, session_settle

SUCCESS = 10000
# code -> (message, retryable, needs a new generation), from Volcengine's error-code table for the visual API.
CODES: dict[int, tuple[str, bool, bool]] = {
    50411: ("reference image rejected by content moderation", False, False),
    50412: ("prompt rejected by content moderation", False, False),
    50413: ("prompt rejected by content moderation (sensitive or copyrighted words)", False, False),
    50511: ("generated image rejected by content moderation", True, True),
    50512: ("generated text rejected by content moderation", False, False),
    50518: ("reference image rejected as copyrighted", False, False),
    50519: ("generated image rejected as copyrighted", True, True),
    50520: ("content moderation service error", False, False),
    50521: ("content moderation service error", False, False),
    50522: ("content moderation service error", False, False),
    50200: ("invalid request", False, False),
    50201: ("missing request parameter", False, False),
    50204: ("reference image too large", False, False),
    50205: ("reference image is empty", False, False),
    50206: ("reference image could not be decoded", False, False),
    50207: ("reference image size not accepted", False, False),
    50213: ("request body too large", False, False),
    50215: ("input not acceptable", False, False),
    50400: ("Volcengine refused the credentials, or the Jimeng service is not enabled for this account", False, False),
    50429: ("Volcengine rate limit (QPS) reached", True, False),
    50430: ("Volcengine concurrency limit reached", True, False),
    50500: ("Volcengine internal error", True, False),
    50501: ("Volcengine internal error", True, False),
}
# Gateway errors (ResponseMetadata.Error.Code) that a later try may get past.
RETRYABLE_GATEWAY = {
    "RequestLimitExceeded",
    "FlowLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalServiceError",
}
AUTH_GATEWAY = {
    "SignatureDoesNotMatch",
    "InvalidAccessKey",
    "InvalidCredential",
    "MissingAuthenticationToken",
    "AccessDenied",
}

_client_lock = threading.Lock()
_clients: dict[str, object] = {}  # account name -> its own VisualService
CREDENTIALS = ("access_key", "secret_key")


def _current(client) -> tuple:
    info = client.service_info
    credentials = info.credentials
    return (credentials.ak, credentials.sk, info.host, info.scheme, info.connection_timeout, info.socket_timeout)


def visual_service(account: Account):
    """The configured VisualService of an account. Each account has an instance of its own, made
    without the SDK's constructor: `VisualService()` returns one shared instance and resets its host,
    scheme and keys on every call, so one account's keys would leak into another's requests. The
    configuration is still checked (not just remembered) on every use."""
    access_key, secret_key = ((*account.credentials, "", ""))[:2]
    wanted = (
        access_key,
        secret_key,
        settings.VOLCENGINE_HOST,
        settings.VOLCENGINE_SCHEME,
        settings.VOLCENGINE_CONNECT_TIMEOUT_SECONDS,
        settings.VOLCENGINE_READ_TIMEOUT_SECONDS,
    )
    with _client_lock:
        client = _clients.get(account.name)
        if client is None:
            from volcengine.visual.VisualService import VisualService

            client = object.__new__(VisualService)  # not VisualService(): that is the shared singleton
            VisualService.__init__(client)
            _clients[account.name] = client
        if _current(client) != wanted:
            access_key, secret_key, host, scheme, connect_timeout, read_timeout = wanted
            client.set_ak(access_key)
            client.set_sk(secret_key)
            client.set_host(host)
            client.set_scheme(scheme)
            client.set_connection_timeout(connect_timeout)
            client.set_socket_timeout(read_timeout)
            session_settle(client.session, f"{scheme}://{host}/")
        return client


def error_from_code(code: int, message: str) -> UpstreamError:
    known = CODES.get(code)
    if known is None:
        return UpstreamError(f"Jimeng error {code}: {message}", code=str(code))
    text, retryable, resubmit = known
    detail = f": {message}" if code in {50200, 50201, 50213, 50215} and message else ""
    return UpstreamError(
        f"{text} ({code}){detail}",
        code=str(code),
        retryable=retryable,
        resubmit=resubmit,
        account_down=code == 50400,
        throttled=code in {50429, 50430},
    )


def error_from_body(body: dict) -> UpstreamError | None:
    if isinstance(body.get("code"), int):
        return error_from_code(body["code"], str(body.get("message") or ""))
    gateway = (body.get("ResponseMetadata") or {}).get("Error")
    if isinstance(gateway, dict):
        code = str(gateway.get("Code", ""))
        if code in AUTH_GATEWAY:
            return UpstreamError(
                f"Volcengine rejected the request signature or access key ({code}); check "
                + (
                    "the account's keys in VOLCENGINE_ACCOUNTS"
                    if settings.VOLCENGINE_ACCOUNTS
                    else "VOLCENGINE_ACCESS_KEY and VOLCENGINE_SECRET_KEY"
                ),
                code=code,
                account_down=True,
            )
        return UpstreamError(
            f"Volcengine gateway error {code}: {gateway.get('Message', '')}",
            code=code,
            retryable=code in RETRYABLE_GATEWAY,
            throttled=code in {"RequestLimitExceeded", "FlowLimitExceeded"},
        )
    return None


def error_from_exception(exc: Exception) -> UpstreamError:
    """The SDK raises a bare Exception: its text is the bytes repr of a non-200 body, or the text of
    a connection error or timeout."""
    text = str(exc)
    try:
        raw = ast.literal_eval(text)
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, SyntaxError, TypeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = error_from_body(body)
        if error is not None:
            return error
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return UpstreamError("Jimeng did not answer in time (timeout)", code="timeout", retryable=True, in_flight=True)
    if any(word in lowered for word in ("connection", "remote end closed", "max retries", "reset by peer")):
        return UpstreamError("could not reach Jimeng (connection error)", code="connection_error", retryable=True)
    return UpstreamError(f"unexpected answer from Jimeng: {text[:200]}", code="bad_response", retryable=True)
