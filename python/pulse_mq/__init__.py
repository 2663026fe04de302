"""pulse_mq — the PulseMQ broker's Python client (wire protocol 6), and ``PulseMQServer``,
which starts the broker itself (the ``pulsemq`` binary the wheel installs).

    from pulse_mq import PulseMQClient

    client = PulseMQClient(host="localhost", pub_port=5555, sub_port=5556,
                           username="publisher_01", token="...")
    await client.async_connect()
    await client.async_publish("market_data", "sz000651.kline.1m", b"...", format="bytes")
    async for msg in client.async_subscribe("market_data", "sz000651.kline.>"):
        print(msg.topic, msg.data)
"""

from ._client import ClientStats, GapEvent, PulseMQClient, Subscription
from .errors import (
    AttachFailedError,
    AuthFailedError,
    ConnectionLimitError,
    ConnectionLostError,
    MissingDependencyError,
    NotAuthenticatedError,
    PayloadError,
    PayloadFormatError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    PulseMQError,
    PulseMQTimeoutError,
    QueryError,
    RateLimitedError,
    ServerError,
    SubscriptionLimitError,
    TopicFormatError,
    TopicLimitError,
)
from .message import PulseMessage
from .server import BrokerNotFoundError, PulseMQServer
from .protocol import PROTOCOL_VERSION, Compression, Format, Pattern

__version__ = "0.5.0"

# Short alias used by the original package
Client = PulseMQClient

__all__ = [
    "PulseMQClient", "Client", "Subscription", "PulseMessage", "GapEvent", "ClientStats",
    "PulseMQServer", "BrokerNotFoundError",
    "Format", "Compression", "Pattern", "PROTOCOL_VERSION", "__version__",
    "PulseMQError", "AuthFailedError", "NotAuthenticatedError", "AttachFailedError",
    "PermissionDeniedError", "TopicFormatError", "PayloadError", "PayloadTooLargeError",
    "PayloadFormatError", "ConnectionLimitError", "SubscriptionLimitError", "RateLimitedError",
    "TopicLimitError",
    "QueryError", "ProtocolError", "ServerError", "PulseMQTimeoutError", "ConnectionLostError",
    "MissingDependencyError",
]
