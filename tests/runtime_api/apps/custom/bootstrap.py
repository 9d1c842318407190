#!/usr/bin/env python3
"""A custom runtime written in Python with the standard library only (no awslambdaric)."""

import http.client
import json
import os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
api = http.client.HTTPConnection(host, int(port))
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    deadline = int(reply.getheader("Lambda-Runtime-Deadline-Ms"))
    event = json.loads(reply.read())
    with open(os.environ["QW_TEST_LEDGER"], "a") as ledger:
        ledger.write(
            json.dumps({"kind": "python-bootstrap", "request_id": request_id, "deadline": deadline}) + "\n"
        )
    failed = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
    body = json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in failed]})
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body)
    api.getresponse().read()
