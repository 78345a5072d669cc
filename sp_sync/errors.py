"""The error tree. Every error says what the admin (or the caller) should do next.

    SpSyncError
    ├── ConfigError            bad settings, mapping or job file: fix the file, then start again
    ├── AuthError              Entra ID refused us (AADSTS code + what to check); never retried
    ├── GraphError             a Graph call failed for good
    │   ├── NotFound           list, item or site does not exist
    │   ├── PermissionDenied   403: grant Sites.Selected / the site permission
    │   ├── PreconditionFailed 412: someone changed the item after we read it
    │   ├── CursorExpired      410: the delta token is gone; enumerate again
    │   ├── ThresholdExceeded  the list view threshold refused a non-indexed query
    │   ├── TlsError           the server's certificate is not trusted: set ca_bundle
    │   ├── BadResponse        an answer over the bounds (size, nesting, value length)
    │   └── TransientError     429/503/5xx/timeouts that outlived the retry policy
    │       └── BudgetExhausted  the run's time budget ran out while waiting
    ├── StoreError             the state store failed; the transaction was rolled back
    │   ├── StoreLocked        another sp-sync process owns the SQLite file
    │   └── LeaseLost          another replica leads now; this one's writes are refused
    ├── MassDeleteRefused      the plan (or a pull) would delete too much; --allow-mass-delete
    └── MailError              a mail transport failed
"""

from __future__ import annotations


class SpSyncError(Exception):
    """Base of every error sp-sync raises on purpose."""


class ConfigError(SpSyncError):
    """Settings, list mapping or job files are invalid. ``problems`` lists every one."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class AuthError(SpSyncError):
    """Entra ID refused to issue a token. ``code`` is the AADSTS number when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class GraphError(SpSyncError):
    """A Graph request failed for good. ``status`` and ``code`` come from the response."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class NotFound(GraphError):
    pass


class PermissionDenied(GraphError):
    pass


class PreconditionFailed(GraphError):
    pass


class CursorExpired(GraphError):
    pass


class ThresholdExceeded(GraphError):
    pass


class TlsError(GraphError):
    """TLS verification failed: permanent until ``ca_bundle`` (or the proxy) is fixed."""


class TransientError(GraphError):
    pass


class BudgetExhausted(TransientError):
    pass


class StoreError(SpSyncError):
    pass


class StoreLocked(StoreError):
    pass


class LeaseLost(StoreError):
    """The write's fencing token is no longer the lease's: another replica took over."""


class MassDeleteRefused(SpSyncError):
    pass


class BadResponse(GraphError):
    """A Graph answer over the size, nesting or value-length bounds: refused, not retried."""


class MailError(SpSyncError):
    pass
