"""The broker's configuration as Python objects, for :class:`pulse_mq.PulseMQServer`.

    from pulse_mq.config import Config, ServerConfig, StorageConfig, LoggingConfig
    config = Config(server=ServerConfig(pub_port=6000, sub_port=6001))

Every field mirrors a key of the broker's YAML file (the README's *Configuration* section) and
defaults to ``None``: only the fields you set are written, everything else keeps the broker's
built-in default, so there is one set of defaults (the broker's) and no copy here to drift. The
broker checks every value at start-up and names the key it refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional

__all__ = ["Config", "ServerConfig", "StorageConfig", "AuthConfig", "LimitsConfig", "BrokerConfig",
           "LoggingConfig", "MonitoringConfig", "AlarmsConfig"]


def _set_fields(section: Any) -> Dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section) if getattr(section, f.name) is not None}


@dataclass
class ServerConfig:
    host: Optional[str] = None
    pub_port: Optional[int] = None     # command port; 0 = any free port
    sub_port: Optional[int] = None     # delivery port; 0 = any free port
    admin_port: Optional[int] = None   # admin API and console; 0 = any free port


@dataclass
class StorageConfig:
    driver: Optional[str] = None
    db_path: Optional[str] = None      # .pulsemq_admin is written next to it


@dataclass
class AuthConfig:
    token_hash: Optional[str] = None
    ping_interval: Optional[int] = None
    ping_timeout: Optional[int] = None
    jwt_secret: Optional[str] = None
    jwt_expiry: Optional[int] = None


@dataclass
class LimitsConfig:
    max_connections_per_user: Optional[int] = None
    max_subscriptions_per_conn: Optional[int] = None
    cache_refresh_sec: Optional[int] = None
    max_topics_per_namespace: Optional[int] = None
    max_topics_per_user: Optional[int] = None


@dataclass
class BrokerConfig:
    hwm: Optional[int] = None
    session_buffer_bytes: Optional[int] = None


@dataclass
class LoggingConfig:
    dir: Optional[str] = None
    level: Optional[str] = None        # debug | info | warn | error
    max_days: Optional[int] = None


@dataclass
class MonitoringConfig:
    stats_retention_minutes: Optional[int] = None
    stats_retention_hours: Optional[int] = None
    cleanup_interval_sec: Optional[int] = None
    audit_retention_days: Optional[int] = None
    sample_interval_sec: Optional[int] = None
    recent_minutes: Optional[int] = None


@dataclass
class AlarmsConfig:
    window_sec: Optional[int] = None
    drops: Optional[int] = None
    connection_limit_hits: Optional[int] = None
    auth_failures: Optional[int] = None
    slow_consumer_bytes: Optional[int] = None
    retention_days: Optional[int] = None


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        """The sections and keys that were set (what the YAML file will hold)."""
        out = {}
        for f in fields(self):
            section = _set_fields(getattr(self, f.name))
            if section:
                out[f.name] = section
        return out

    def to_yaml(self) -> str:
        """The set keys as a YAML document (JSON is YAML: no YAML library needed)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
