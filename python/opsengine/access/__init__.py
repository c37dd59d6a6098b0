"""Access: API keys (bearer tokens with a role) and the audit trail of who did what.

A service without HTTP: the API authenticates with ``KeyStore`` and records with
``AuditTrail``; ``opsengine keys`` uses the same two on the store directly.
"""

from opsengine.access.audit import AuditEntry, AuditTrail, outcome_for
from opsengine.access.keys import ROLES, ApiKey, KeyError_, KeyStore, LastAdminKeyError

__all__ = [
    "ROLES",
    "ApiKey",
    "AuditEntry",
    "AuditTrail",
    "KeyError_",
    "KeyStore",
    "LastAdminKeyError",
    "outcome_for",
]
