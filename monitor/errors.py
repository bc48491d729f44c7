"""The liqmon exception tree.

MonitorError
 ├── InputError   user-supplied data (a file, a JSON document) is malformed or out of domain
 ├── ConfigError  (monitor.config) the configuration cannot be used
 └── FeedError    (monitor.feeds.base) a venue feed failed: FeedDecodeError, StaleFeedError,
                  RestError
"""


class MonitorError(Exception):
    """Base class of every error liqmon raises on purpose."""


class InputError(MonitorError, ValueError):
    """Input that liqmon refuses: malformed, of the wrong type, or out of its domain."""
