"""The README's client example runs as written (against SQLite and Redis instead of its URLs)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

README = Path(__file__).parent.parent.parent / "README.md"


def test_the_readme_client_example_runs(backend_url: str, tmp_path: Path, capsys: object) -> None:
    section = README.read_text().split("## Sending messages from your code", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    [example] = [block for block in blocks if "qworker.Client.from_url" in block]
    code = example.replace("redis://localhost:6379/0", backend_url).replace(
        "sqlite:///qworker.db", f"sqlite:///{tmp_path}/async.db"
    )
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    asyncio.run(namespace["produce"]())  # type: ignore[operator]
