"""Keystone's error answers: ``{"error": {"code", "title", "message"}}``."""


class IdentityError(Exception):
    code = 500
    title = "Internal Server Error"
    default = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default)

    def body(self) -> dict:
        return {"error": {"code": self.code, "title": self.title, "message": str(self)}}


class ValidationError(IdentityError):
    code = 400
    title = "Bad Request"
    default = "The request you have made is invalid."


class Unauthorized(IdentityError):
    """Always the same message: a client never learns why (bad password, expired, revoked)."""
    code = 401
    title = "Unauthorized"
    default = "The request you have made requires authentication."


class Forbidden(IdentityError):
    code = 403
    title = "Forbidden"
    default = "You are not authorized to perform the requested action."


class NotFound(IdentityError):
    code = 404
    title = "Not Found"

    def __init__(self, kind: str, ident: str):
        super().__init__(f"Could not find {kind}: {ident}.")


class Conflict(IdentityError):
    code = 409
    title = "Conflict"
