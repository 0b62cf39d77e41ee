"""Typed errors raised by every platform hook.

Every message names the platform and says what to do. None of them ever carries a secret:
URLs are reduced to method and path, and the hook redacts anything it knows to be secret
before the message is built.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException


class PlatformError(AirflowException):
    """An ad platform answered with an error, or could not be reached.

    :param message: what happened and what to do, already free of secrets.
    :param platform: platform name (``topsort``, ``amazon_ads``, ...).
    :param status: HTTP status, when the platform answered.
    :param vendor_message: the platform's own error text, when it gave one.
    :param method: HTTP method of the failed call.
    :param path: path of the failed call, never with its query string.
    """

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        status: int | None = None,
        vendor_message: str | None = None,
        method: str | None = None,
        path: str | None = None,
        vendor_code: str | None = None,
    ) -> None:
        self.platform = platform
        self.status = status
        self.vendor_message = vendor_message
        self.vendor_code = vendor_code
        self.method = method
        self.path = path
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe summary for reports and XCom."""
        return {
            "error": type(self).__name__,
            "message": str(self),
            "platform": self.platform,
            "status": self.status,
            "vendor_message": self.vendor_message,
            "vendor_code": self.vendor_code,
        }


class PlatformAuthError(PlatformError):
    """Credentials are missing, wrong, expired beyond refresh, or lack a permission."""


class PlatformRateLimited(PlatformError):
    """The platform kept answering 429 after the hook's own backoff.

    :param retry_after: seconds the platform asked to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class PlatformUnavailable(PlatformError):
    """5xx answers or connection failures that outlasted the retries."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class PlatformRequestError(PlatformError):
    """The platform refused the request itself (400, 404, 406, 415, 422, ...): fix the input."""


class PlatformRejected(PlatformError):
    """The platform accepted the upload but rejected the asset (failed processing or review)."""


class PresignedUrlExpired(PlatformRequestError):
    """A presigned upload URL was refused as expired; the caller asks for a new one."""


class UncertainOutcome(PlatformUnavailable):
    """A non-idempotent call may have reached the platform but its answer was lost.

    The hook must look the object up before deciding to create it again.
    """


class PlatformConfigError(PlatformError):
    """The Airflow connection is missing or lacks a field the platform needs."""


class CreativeRefused(PlatformError):
    """A local rule refused a file before any byte was sent.

    :param file: the file's name or key.
    :param rule: the rule that refused it (``type``, ``size``, ``dimensions``, ...).
    """

    def __init__(self, message: str, *, file: str, rule: str, **kwargs: object) -> None:
        self.file = file
        self.rule = rule
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
