"""One error tree, rooted at RepmonError. Each class is a failure a user can act on;
the message says what to do. The CLI prints it as one line on stderr and exits non-zero.

    RepmonError
    ├── ConfigError          the config file or an env var is wrong
    ├── StoreError           the database cannot be reached or migrated
    ├── CollectorError       a source failed
    │   ├── AuthError        credentials rejected
    │   ├── RateLimited      come back at `reset_at`
    │   └── TransientError   timeouts, 5xx: try again
    ├── NotifierError        an alert could not be delivered
    └── PostingError         a reply could not be published through a platform's API
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional


class RepmonError(Exception):
    pass


class ConfigError(RepmonError):
    pass


class StoreError(RepmonError):
    pass


class CollectorError(RepmonError):
    pass


class AuthError(CollectorError):
    pass


class TransientError(CollectorError):
    pass


class RateLimited(CollectorError):
    def __init__(self, message: str, reset_at: Optional[datetime] = None):
        super().__init__(message)
        self.reset_at = reset_at


class NotifierError(RepmonError):
    def __init__(self, message: str, retry_after: Optional[float] = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class PostingError(RepmonError):
    """A reply was not published through the platform's API. `kind` says why: "off" (config),
    "unsupported", "invalid" (empty), "too_long", "auth", "rate_limited" (`retry_after` seconds
    when the platform said), "not_found" (the post is gone), "rejected", "transient" (a timeout
    or 5xx: the reply may or may not have been published)."""

    def __init__(self, message: str, kind: str = "rejected", retry_after: Optional[float] = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
