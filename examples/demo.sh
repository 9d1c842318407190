#!/usr/bin/env bash
# The quick start on the embedded SQLite backend: a queue with a dead-letter queue, 1,000 orders,
# and a Lambda handler (examples/orders.py) run with Lambda's SQS trigger semantics.
set -euo pipefail
cd "$(dirname "$0")"
QW="${QW:-../.venv/bin/qworker}"
PY="${PY:-../.venv/bin/python}"
export QWORKER_BACKEND="${QWORKER_BACKEND:-sqlite:///demo.db}"
rm -f demo.db demo.db-wal demo.db-shm

echo "== create the queues (orders -> orders-dlq after 3 receives)"
"$QW" queue create orders-dlq
"$QW" queue create orders --visibility-timeout 4 --dlq orders-dlq --max-receive-count 3

echo "== send 1,000 orders (1 in 100 is invalid)"
"$PY" make_orders.py 1000 | "$QW" send --queue orders --file - > /dev/null
"$QW" queue stats orders

echo "== run the Lambda handler until the queue is empty"
"$QW" run orders:handler --queue orders --batch-size 100 --batch-window 1 \
    --report-batch-item-failures --timeout 2 --until-empty --log-format console

echo "== what is left: the invalid orders, in the dead-letter queue with their last error"
"$QW" queue stats orders
"$QW" queue stats orders-dlq
"$QW" queue peek orders-dlq -n 3 --json
