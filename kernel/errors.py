"""One exception root for theodoi; library errors are wrapped at the boundary."""

from __future__ import annotations


class TheodoiError(Exception):
    """Root of every error theodoi raises on purpose."""


class ConfigError(TheodoiError):
    """The configuration is invalid (file, key and value are named)."""


class InvalidInput(TheodoiError):
    """Bad input from a user: names the field and the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(TheodoiError):
    """A case, unit or user that does not exist."""


class TransitionNotAllowed(TheodoiError):
    """An event that the case's current state does not allow."""

    def __init__(self, case_id: int | None, state: str, event: str, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"case {case_id}: event '{event}' is not allowed in state '{state}'{detail}"
        )
        self.case_id = case_id
        self.state = state
        self.event = event


class ConcurrentUpdate(TheodoiError):
    """The case moved meanwhile (optimistic lock): reload and try again."""

    def __init__(self, case_id: int, expected_version: int) -> None:
        super().__init__(
            f"case {case_id} was changed by someone else (expected version {expected_version}); "
            "reload it and try again"
        )
        self.case_id = case_id


class StorageError(TheodoiError):
    """The database refused or lost a step (a driver error wrapped at the storage
    boundary, with what was being done)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now (connection refused or lost, locked,
    serialisation failure): a caller may retry later."""


class InvalidDefinition(TheodoiError):
    """A workflow definition that cannot work; raised when it is loaded."""

    def __init__(self, workflow: str, problem: str) -> None:
        super().__init__(f"workflow '{workflow}': {problem}")
        self.workflow = workflow


# -- refusals a person meets on the web (the web maps each to its answer) -------------


class LoginRequired(TheodoiError):
    """The request needs a signed-in user (web: redirect to the login page)."""


class Forbidden(TheodoiError):
    """The signed-in user's role or unit does not allow this (web: 403)."""


class CsrfFailed(TheodoiError):
    """A form post without the session's CSRF token (web: 403)."""
