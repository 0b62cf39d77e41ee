"""The words the sync speaks: states of an asset and actions of a plan, one definition each.

Both are ``StrEnum``s, so they compare equal to (and serialise as) their plain strings: the
plan, the ledger's ``state`` columns, the engine, XCom payloads and the Creatives page all
use these values.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a creative stands on one platform account (a ledger record, a report row)."""

    #: intent written before the create call, remote id not yet known.
    SENDING = "sending"
    #: the send failed; the next run resumes it.
    FAILED = "failed"
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    #: the platform said no (content policy, review).
    REJECTED = "rejected"
    #: sent, but the platform never put it up for approval (MediaMath's approval stayed "N/A" too long).
    NOT_SUBMITTED = "not_submitted"
    ARCHIVED = "archived"
    #: refused by the platform's local rules (or its API's own validation): never sent.
    REFUSED = "refused"
    #: planned but not sent yet (a new file).
    NEW = "new"
    #: the platform could not be used (no connection, integration missing).
    ERROR = "error"
    #: its submit task did not finish.
    NOT_SENT = "not_sent"


class Action(StrEnum):
    """What the plan decided for one file (or one removed content) on one platform."""

    UPLOAD = "upload"
    POLL = "poll"
    NONE = "none"
    ALIAS = "alias"
    REFUSED = "refused"
    ARCHIVE = "archive"
    KEEP = "keep"
    WOULD_ARCHIVE = "would_archive"
    #: only the metadata changed: sent through the platform's update call, not the bytes.
    UPDATE = "update"


class Change(StrEnum):
    """Why a file is uploaded."""

    NEW = "new"
    CHANGED = "changed"
    RETRY = "retry"
    RESTORED = "restored"
    #: the manifest's metadata of an unchanged file changed.
    METADATA = "metadata"


#: states after which nothing is waited for.
TERMINAL_STATES = frozenset({State.READY, State.REJECTED, State.ARCHIVED})
#: actions that are work for a submit task.
WORK_ACTIONS = frozenset({Action.UPLOAD, Action.POLL, Action.ARCHIVE, Action.UPDATE})


def would(action: str) -> str:
    """The report state of planned work in a dry run: ``would_upload``, ``would_archive``..."""
    return f"would_{action}"
