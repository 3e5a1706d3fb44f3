"""How a run ended, in words for a terminal: one line per failed step, the error our code
raised rather than Dagster's wrapper of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg


def failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """`step: message` per failed step of an in-process run (see `step_failure_reasons`)."""
    return step_failure_reasons(result.all_events)


def step_failure_reasons(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """`step: message` per failed step among `events`: the error our code raised, not Dagster's
    wrapper of it nor the library error beneath it; its first line only (the trace is in the
    run's log)."""
    return [
        f"{event.step_key}: {_headline(_ours(event.step_failure_data.error))}"
        for event in events
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data
    ]


def run_failure_reasons(events: Sequence[dg.DagsterEvent]) -> list[str]:
    """Why a launched run failed: its failed steps, else the errors its engine reported (a
    worker that could not load the job, say), else what marked it failed (a lost worker)."""
    return (
        step_failure_reasons(events)
        or [
            f"{event.message} {_headline(_ours(event.engine_event_data.error))}"
            for event in events
            if event.event_type_value == "ENGINE_EVENT"
            and event.engine_event_data
            and event.engine_event_data.error
        ]
        or [
            event.message for event in events if event.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
    )


def _ours(error: Any) -> Any:
    """The error beneath Dagster's wrappers of it."""
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _headline(error: Any) -> str:
    """The first line of the error: the message of a Failure we raised, else the exception's
    class (without its module) and message."""
    if error is None:
        return "unknown error"
    line = (error.message.strip().splitlines() or [""])[0]
    head, sep, rest = line.partition(": ")
    if sep and head.rsplit(".", 1)[-1] == error.cls_name:
        return rest if error.cls_name == "Failure" else f"{error.cls_name}: {rest}"
    return line
