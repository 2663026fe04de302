"""Exceptions raised by the PulseMQ client.

The names of the original Python package are kept (``PulseMQError``,
``AuthFailedError``, ``PermissionDeniedError``, ``PayloadTooLargeError``,
``TopicFormatError``, ``ConnectionLimitError``); the others cover the rest of
the broker's error codes (design.md §3.2) and the client's own failures.

Every exception raised because the broker answered ERROR carries the wire
code in ``.code`` (``None`` for errors detected by the client itself).
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "PulseMQError",
    "AuthFailedError",
    "NotAuthenticatedError",
    "AttachFailedError",
    "PermissionDeniedError",
    "TopicFormatError",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadFormatError",
    "ConnectionLimitError",
    "SubscriptionLimitError",
    "RateLimitedError",
    "TopicLimitError",
    "QueryError",
    "ProtocolError",
    "ServerError",
    "PulseMQTimeoutError",
    "ConnectionLostError",
    "MissingDependencyError",
    "error_from_code",
]


class PulseMQError(Exception):
    """Base class of every PulseMQ exception."""

    def __init__(self, message: str = "", code: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:  # keeps "[code] message" visible in tracebacks
        if self.code is not None:
            return f"[{self.code}] {self.message}"
        return self.message


class AuthFailedError(PulseMQError):
    """AUTH refused (code 1): unknown user, wrong token, inactive or admin-only account."""


class NotAuthenticatedError(AuthFailedError):
    """The broker has no session for this client (code 2) and re-authentication failed."""


class AttachFailedError(AuthFailedError):
    """ATTACH of the delivery socket refused (code 11)."""


class PermissionDeniedError(PulseMQError):
    """The user lacks the role this operation needs in the namespace (code 3)."""


class TopicFormatError(PulseMQError, ValueError):
    """Invalid namespace, topic or pattern (code 4, or checked before sending)."""


class PayloadError(PulseMQError, ValueError):
    """Payload rejected: too large or not in the declared format (code 5)."""


class PayloadTooLargeError(PayloadError):
    """Payload larger than its format allows (checked before sending and when inflating)."""

    def __init__(self, message: str = "", size: Optional[int] = None, limit: Optional[int] = None,
                 code: Optional[int] = None):
        super().__init__(message, code)
        self.size = size
        self.limit = limit


class PayloadFormatError(PayloadError):
    """Payload cannot be encoded / decoded in the declared format or compression."""


class ConnectionLimitError(PulseMQError):
    """The user already has ``limits.max_connections_per_user`` sessions (code 7)."""


class SubscriptionLimitError(PulseMQError):
    """This session already has ``limits.max_subscriptions_per_conn`` subscriptions (code 8)."""


class RateLimitedError(PulseMQError):
    """Too many failed authentications from this address (code 12)."""


class TopicLimitError(PulseMQError):
    """A publish would create a topic beyond the namespace's or the user's topic limit (code 13)."""


class QueryError(PulseMQError):
    """QUERY refused (code 10)."""


class ProtocolError(PulseMQError):
    """A frame could not be decoded (codes 6 and 9, or a local decoding failure)."""


class ServerError(PulseMQError):
    """The broker reported an internal error (code 255) or an unknown code."""


class PulseMQTimeoutError(PulseMQError, builtins.TimeoutError):
    """No reply within the timeout (also an instance of the built-in ``TimeoutError``)."""


class ConnectionLostError(PulseMQError, ConnectionError):
    """The client is closed, or reconnecting failed after every attempt."""


class MissingDependencyError(PulseMQError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


_BY_CODE = {
    1: AuthFailedError,
    2: NotAuthenticatedError,
    3: PermissionDeniedError,
    4: TopicFormatError,
    6: ProtocolError,
    7: ConnectionLimitError,
    8: SubscriptionLimitError,
    9: ProtocolError,
    10: QueryError,
    11: AttachFailedError,
    12: RateLimitedError,
    13: TopicLimitError,
    255: ServerError,
}


def error_from_code(code: int, message: str) -> PulseMQError:
    """Maps an ERROR reply ``{"error_code", "error_message"}`` to an exception."""
    if code == 5:
        if "exceeds" in message or "too large" in message:
            return PayloadTooLargeError(message, code=code)
        return PayloadFormatError(message, code=code)
    cls = _BY_CODE.get(code, ServerError)
    return cls(message, code=code)
