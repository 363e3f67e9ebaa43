"""Refusals of the core: values with an HTTP status, a code and a sentence.

The shells render a `ServiceError` once; the core raises it before it changes
anything, so a refused request leaves the store as it was.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal: `status` is the HTTP status, `code` the slug of CONTRACT §3."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ServiceError({self.status}, {self.code!r}, {self.message!r})"


def invalid(field: str, problem: str) -> ServiceError:
    """400 invalid_field; the message starts with the field's path."""
    return ServiceError(400, "invalid_field", f"{field}: {problem}")


def unauthorized(message: str = "a valid bearer token is required") -> ServiceError:
    return ServiceError(401, "unauthorized", message)


def forbidden(message: str) -> ServiceError:
    return ServiceError(403, "forbidden", message)


def account_suspended(party: str) -> ServiceError:
    """403: a suspended party reads, but every change it asks for is refused."""
    return ServiceError(403, "account_suspended",
                        f"the account of party '{party}' is suspended: it may read but not "
                        "create, offer, accept, decline, withdraw, leave or tear down until "
                        "the provider resumes it")


def not_found(what: str, ident: object) -> ServiceError:
    return ServiceError(404, "not_found", f"no {what} {ident}")


def conflict(code: str, message: str) -> ServiceError:
    """409: the request clashes with the current state; `code` says how."""
    return ServiceError(409, code, message)


def not_owner(service_id: int) -> ServiceError:
    """403: the caller sees the service but is not the owner it takes."""
    return ServiceError(403, "not_owner", f"only the owner of service {service_id} may do this")


def not_addressee(offer_id: int) -> ServiceError:
    return ServiceError(403, "not_addressee", f"offer {offer_id} is not addressed to you")


def provisioning_failed(message: str) -> ServiceError:
    """The switches did not take a change; what was decided is undone (the message
    names the switch)."""
    return ServiceError(503, "provisioning_failed", message)
