"""The one error type services raise for what a user did wrong.

Each app keeps its codes in an `ErrorCode` TextChoices; the API turns a
`ClientbookError` into JSON with that code, the web UI into a form message.
"""

from typing import Any


class ClientbookError(Exception):
    """A user-caused error: a code, a message, and where it happened."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = str(message)
        self.field = field
        self.value = value
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        if self.value is not None:
            data["value"] = str(self.value)
        data.update(self.details)
        return data


class ValidationFailed(ClientbookError):
    status = 422


class Conflict(ClientbookError):
    status = 409


class NotFound(ClientbookError):
    status = 404


class AccessDenied(ClientbookError):
    status = 403
