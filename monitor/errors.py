"""The liqmon exception tree.

MonitorError
 ├── InputError        user-supplied data (a file, a JSON document) is malformed or out of domain
 └── DataIntegrityError an internal invariant broke; crash-only: let the supervisor restart us
"""


class MonitorError(Exception):
    """Base class of every error liqmon raises on purpose."""


class InputError(MonitorError, ValueError):
    """Input that liqmon refuses: malformed, of the wrong type, or out of its domain."""


class DataIntegrityError(MonitorError):
    """A state invariant no longer holds; continuing would publish wrong numbers."""
