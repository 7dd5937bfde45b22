"""Domain errors: what went wrong in words a user can act on, with no HTTP detail."""


class DomainError(Exception):
    """Base class for every error the domain raises on purpose."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, object]:
        """More structured detail for the error response (none by default)."""
        return {}


class NotFound(DomainError):
    """The record does not exist or the actor may not know that it exists."""

    code = "not_found"


class NotAuthenticated(DomainError):
    """No valid sign-in accompanies the request."""

    code = "not_authenticated"


class AuthenticationFailed(DomainError):
    """A sign-in attempt failed; the detail never says which part was wrong."""

    code = "authentication_failed"


class AccountLocked(DomainError):
    """Too many failed sign-ins: the account is locked for a while."""

    code = "account_locked"


class AccessDenied(DomainError):
    """The actor is signed in but may not do this."""

    code = "access_denied"


class Conflict(DomainError):
    """The change clashes with the current state (a duplicate or a stale version)."""

    code = "conflict"


class InvalidInput(DomainError):
    """The input is well formed but breaks a domain rule."""

    code = "invalid_input"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field

    def extra(self) -> dict[str, object]:
        """Name the field, as request validation errors do."""
        return {"fields": [{"path": self.field, "message": self.detail}]} if self.field else {}


class ReasonRequired(DomainError):
    """Opening a person's record needs a stated reason (DPA 2018 s.62)."""

    code = "reason_required"
