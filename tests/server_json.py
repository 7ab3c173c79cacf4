"""What the real Interactive server sends, for tests that build its answers by hand."""

# One job as `GET /v1/job/{id}` (and each entry of `GET /v1/job`) gives it: all seven fields.
JOB = {
    "id": "7",
    "status": "SUCCESS",
    "start_time": 1718000000123,
    "end_time": 1718000065432,
    "log": "loading vertices\ndone\n",
    "detail": {"graph_id": "2", "process_id": 4242},
    "type": "BULK_LOADING",
}
