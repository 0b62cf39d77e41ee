"""Stand-ins for the parts of Airflow's runtime an operator or sensor touches in a unit test."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class RecordingTI:
    """The task-instance surface the operators and sensors use: the try number, XCom pushes and,
    for a sensor in ``reschedule`` mode, the date of its first poke (None: this is the first)."""

    def __init__(self, try_number: int = 1, first_reschedule_date: datetime | None = None) -> None:
        self.try_number = try_number
        self.first_reschedule_date = first_reschedule_date
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_reschedule_date
