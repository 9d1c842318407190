"""A custom runtime whose second start fails its Init (POST /runtime/init/error); the others
serve, and a body {"crash": N} makes the process exit with status N mid-invocation."""

import http.client
import json
import os
import sys

starts_file = os.environ["QW_TEST_STARTS"]
with open(starts_file, "a") as starts:
    starts.write("start\n")
with open(starts_file) as starts:
    start = len(starts.read().splitlines())
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
api = http.client.HTTPConnection(host, int(port))
if start == 2:
    error = {
        "errorType": "Runtime.ConfigurationError",
        "errorMessage": "the second start refuses",
        "stackTrace": [],
    }
    api.request(
        "POST",
        "/2018-06-01/runtime/init/error",
        json.dumps(error),
        {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigurationError"},
    )
    api.getresponse().read()
    sys.exit(1)
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(reply.read())
    bodies = [r["body"] for r in event["Records"]]
    with open(os.environ["QW_TEST_LEDGER"], "a") as ledger:
        ledger.write(
            json.dumps({"kind": "flaky", "start": start, "pid": os.getpid(), "bodies": bodies}) + "\n"
        )
    for body in bodies:
        if "crash" in json.loads(body):
            os._exit(json.loads(body)["crash"])
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", "null")
    api.getresponse().read()
