"""Domain errors raised by services; `jimeng_server.api` maps each class to one HTTP status."""


class DomainError(Exception):
    """Base class: `message` is what the client reads in the envelope."""

    status = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(DomainError):
    status = 400


class PaymentRequired(DomainError):
    """Not enough credits for what was asked."""

    status = 402


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class TooManyRequests(DomainError):
    status = 429

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
