"""Domain exceptions raised by services; one handler turns them into HTML pages or JSON error bodies."""


class ArchiveError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", fields: dict[str, str] | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.fields = fields or {}

    default_message = "The request could not be handled."


class Invalid(ArchiveError):
    status = 422
    code = "invalid"
    default_message = "Some fields are not valid."


class Unauthorized(ArchiveError):
    status = 401
    code = "unauthorized"
    default_message = "Sign in or send a valid API token."


class Forbidden(ArchiveError):
    status = 403
    code = "forbidden"
    default_message = "You may not do that."


class NotFound(ArchiveError):
    status = 404
    code = "not_found"
    default_message = "Nothing was found here."


class StaleVersion(ArchiveError):
    status = 409
    code = "stale_version"
    default_message = "Someone else saved a newer version; reload it and apply your change again."

    def __init__(self, message: str = "", current_version: int | None = None):
        super().__init__(message)
        self.current_version = current_version


class Conflict(ArchiveError):
    status = 409
    code = "conflict"
    default_message = "That cannot be done in the record's current state."


class PreconditionRequired(ArchiveError):
    status = 428
    code = "precondition_required"
    default_message = "Send If-Match with the version you edited."
