"""One error tree, rooted at RepmonError. Each class is a failure a user can act on;
the message says what to do. The CLI prints it as one line on stderr and exits non-zero.

    RepmonError
    ├── ConfigError          the config file or an env var is wrong
    ├── StoreError           the database cannot be reached or migrated
    ├── CollectorError       a source failed
    │   ├── AuthError        credentials rejected
    │   ├── RateLimited      come back at `reset_at`
    │   └── TransientError   timeouts, 5xx: try again
    └── NotifierError        an alert could not be delivered
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
