"""Write N orders as JSON lines (one message body per line) for ``qworker send --file``."""

import json
import random
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
rng = random.Random(7)
for n in range(count):
    amount = round(rng.uniform(1, 500), 2) if n % 100 else -1.0  # 1 in 100 is invalid
    print(json.dumps({"order_id": n, "amount": amount, "customer": f"c{rng.randrange(50)}"}))
