"""Stand-ins for the parts of Airflow's runtime an operator or sensor touches in a unit test."""

from __future__ import annotations


class RecordingTI:
    """The task-instance surface the operators and sensors use: the try number and XCom pushes."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value
