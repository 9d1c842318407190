"""A no-op custom runtime with the standard library only, for benchmarks/bench_runtime_api.py."""

import http.client
import os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
api = http.client.HTTPConnection(host, int(port))
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    reply.read()
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", b"null")
    api.getresponse().read()
