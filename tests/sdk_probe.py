"""Run the official SDK's job calls (gs-interactive 0.3) and print what each gave, as JSON.

    python tests/sdk_probe.py ENDPOINT '[["list"], ["get", "3"], ["cancel", "3"], ["list_slash"]]'

Run by tests/test_sdk_compat.py with the Python of the SDK's own venv (it pins pydantic<=2.8.2 and
urllib3<2.1, so it cannot share jobbot's): only the standard library and the SDK are imported here.
Each outcome is `{"call", "ok", "value", "code", "message", "raised"}`: `ok` is the SDK's `Result.is_ok()`
(None when the call raised), `value` its value as JSON (a job as the SDK's `to_dict()`), `code` and
`message` its status, `raised` the exception that escaped the SDK, if one did.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any


def session(endpoint: str) -> Any:
    """The SDK's documented entry point: Driver() from the environment, then a session."""
    os.environ["INTERACTIVE_ADMIN_ENDPOINT"] = endpoint
    # Otherwise the session asks /v1/service/status for the query port, which the emulator does not serve.
    os.environ["INTERACTIVE_STORED_PROC_ENDPOINT"] = endpoint
    os.environ["INTERACTIVE_CYPHER_ENDPOINT"] = "neo4j://127.0.0.1:7687"  # unused; silences a print
    os.environ["INTERACTIVE_GREMLIN_ENDPOINT"] = "127.0.0.1:8182"  # unused; silences a print
    from gs_interactive.client.driver import Driver

    return Driver().session()


def list_with_slash(sdk: Any) -> Any:
    """`GET /v1/job/` through the SDK's own client and models: `list_jobs` with the path's slash kept
    (the SDK has no call for it; its generic `param_serialize`/`call_api` are the same ones it uses)."""
    from gs_interactive.api_response import ApiResponse
    from gs_interactive.client.result import Result

    api = sdk._job_api.api_client
    try:
        request = api.param_serialize(method="GET", resource_path="/v1/job/", header_params={})
        data = api.call_api(*request)
        data.read()
        response: ApiResponse[Any] = api.response_deserialize(
            response_data=data, response_types_map={"200": "List[JobStatus]"}
        )
        return Result.from_response(response)
    except Exception as exc:
        return Result.from_exception(exc)


def as_json(value: Any) -> Any:
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def outcome(call: list[str], sdk: Any) -> dict[str, Any]:
    name, *args = call
    said: dict[str, Any] = {"call": call, "ok": None, "value": None, "code": None, "message": None}
    said["raised"] = None
    try:
        if name == "list_slash":
            result = list_with_slash(sdk)
        else:
            result = {"list": sdk.list_jobs, "get": sdk.get_job, "cancel": sdk.cancel_job}[name](*args)
    except Exception as exc:  # what escapes the SDK's own Result is its failure, recorded as such
        said["raised"] = f"{type(exc).__name__}: {exc}"
        return said
    status = result.get_status()
    said.update(ok=bool(result.is_ok()), code=int(status.get_code()), message=str(status.message))
    said["value"] = as_json(result.get_value())
    return said


def main() -> None:
    endpoint, calls = sys.argv[1], json.loads(sys.argv[2])
    # The SDK prints each failure to stdout: kept apart, on stderr, so stdout is the JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        sdk = session(endpoint)
        said = [outcome(call, sdk) for call in calls]
    print(json.dumps(said, default=str))


if __name__ == "__main__":
    main()
