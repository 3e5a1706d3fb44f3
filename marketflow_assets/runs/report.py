"""How a run ended, in words for a terminal: one line per failed step, the error our code
raised rather than Dagster's wrapper of it."""

from __future__ import annotations

import dagster as dg


def failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """`step: message` per failed step: the error our code raised, not Dagster's wrapper of it
    nor the library error beneath it; its first line only (the trace is in the run's log)."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE" or not event.step_failure_data:
            continue
        error = event.step_failure_data.error
        while (
            error is not None and error.cause is not None and error.cls_name.startswith("Dagster")
        ):
            error = error.cause
        message = error.message.strip() if error is not None else "unknown error"
        reasons.append(f"{event.step_key}: {message.splitlines()[0] if message else message}")
    return reasons
