"""``Status`` objects with the reasons, codes and messages Go's apiserver uses.

Every failure the server reports is an `APIError` carrying a ``metav1.Status``
dict; the HTTP layer writes it with its code (and ``Retry-After`` when the
status says so), and a watch writes it as an ``ERROR`` event. The message
formats follow ``k8s.io/apimachinery/pkg/api/errors``.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class APIError(Exception):
    """A failure to report as a ``Status``."""

    def __init__(self, status: JSON) -> None:
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        return int(self.status["code"])

    @property
    def retry_after(self) -> int | None:
        details = self.status.get("details") or {}
        seconds = details.get("retryAfterSeconds")
        return int(seconds) if seconds else None


def status(
    code: int, reason: str, message: str, details: JSON | None = None, *, success: bool = False
) -> JSON:
    out: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if success else "Failure",
        "message": message,
        "reason": reason,
    }
    if success:
        del out["message"], out["reason"]
    if details:
        out["details"] = details
    out["code"] = code
    return out


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(name: str, resource: str, group: str, **more: Any) -> JSON:
    d: JSON = {"name": name} if name else {}
    if group:
        d["group"] = group
    d["kind"] = resource
    d.update(more)
    return d


def not_found(resource: str, name: str, group: str = "") -> APIError:
    return APIError(
        status(
            404,
            "NotFound",
            f'{_qualified(resource, group)} "{name}" not found',
            _details(name, resource, group),
        )
    )


def path_not_found() -> APIError:
    return APIError(status(404, "NotFound", "the server could not find the requested resource"))


def already_exists(resource: str, name: str, group: str = "") -> APIError:
    return APIError(
        status(
            409,
            "AlreadyExists",
            f'{_qualified(resource, group)} "{name}" already exists',
            _details(name, resource, group),
        )
    )


CONFLICT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def conflict(resource: str, name: str, group: str = "", why: str = CONFLICT_MODIFIED) -> APIError:
    return APIError(
        status(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
            _details(name, resource, group),
        )
    )


def bad_request(message: str) -> APIError:
    return APIError(status(400, "BadRequest", message))


def invalid(kind: str, name: str, group: str, causes: list[tuple[str, str, str]]) -> APIError:
    """422 Invalid; ``causes`` are (reason, field, message) like ``field.Error``."""
    summary = ", ".join(f"{f}: {m}" for _, f, m in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    qualified = f"{kind}.{group}" if group else kind
    details: JSON = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return APIError(status(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details))


def expired(message: str) -> APIError:
    return APIError(status(410, "Expired", message))


def too_old_watch(rv: int, oldest: int) -> APIError:
    return expired(f"too old resource version: {rv} ({oldest})")


def too_large_rv(requested: int, current: int, retry_after: int = 1) -> APIError:
    return APIError(
        status(
            504,
            "Timeout",
            f"Timeout: Too large resource version: {requested}, current: {current}",
            {
                "causes": [
                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                ],
                "retryAfterSeconds": retry_after,
            },
        )
    )


def too_many_requests(retry_after: int = 1) -> APIError:
    return APIError(
        status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            {"retryAfterSeconds": retry_after},
        )
    )


def internal(message: str, retry_after: int | None = None) -> APIError:
    details: JSON = {"causes": [{"message": message}]}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    return APIError(status(500, "InternalError", f"Internal error occurred: {message}", details))


def service_unavailable(
    message: str = "the server is currently unable to handle the request",
    retry_after: int | None = None,
) -> APIError:
    details: JSON = {"retryAfterSeconds": retry_after} if retry_after else {}
    return APIError(status(503, "ServiceUnavailable", message, details))


def http_error(code: int, retry_after: int | None = None, message: str | None = None) -> APIError:
    """An error for an arbitrary injected HTTP status code."""
    if code == 429:
        return too_many_requests(retry_after or 1)
    if code == 500:
        return internal(message or "injected fault", retry_after)
    if code == 503:
        return service_unavailable(message or "injected fault", retry_after)
    if code == 504:
        details: JSON = {"retryAfterSeconds": retry_after} if retry_after else {}
        return APIError(
            status(
                504,
                "Timeout",
                message or "Timeout: request did not complete within the allotted timeout",
                details,
            )
        )
    reasons = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Gone",
        422: "Invalid",
    }
    details = {"retryAfterSeconds": retry_after} if retry_after else {}
    return APIError(
        status(code, reasons.get(code, "InternalError"), message or "injected fault", details)
    )


def method_not_allowed() -> APIError:
    return APIError(
        status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    )


def too_large_body(limit: int) -> APIError:
    return APIError(
        status(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
    )


def unsupported_media_type(accepted: list[str]) -> APIError:
    return APIError(
        status(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(accepted)}",
        )
    )


def not_acceptable(accepted: list[str]) -> APIError:
    return APIError(
        status(
            406,
            "NotAcceptable",
            f"only the following media types are accepted: {', '.join(accepted)}",
        )
    )
