"""The reject file of one input: JSON lines with file, line, table, reason and the row.
Its length is stored in the checkpoint with each batch, and cut back to it on resume, so
a batch whose rows were rolled back by a kill does not list its rejects twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RejectFile:
    def __init__(self, path: Path, committed: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self.f = path.open("r+b")
        self.f.truncate(committed)
        self.f.seek(committed)

    def write(self, records: list[dict[str, Any]]) -> int:
        """Append, flush to the OS (a kill of this process keeps it); the new length."""
        if records:
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            self.f.write(text.encode("utf-8"))
            self.f.flush()
        return self.f.tell()

    def close(self) -> None:
        self.f.close()


def default_path(source: Path, rejects_dir: Path | None) -> Path:
    return (rejects_dir or source.parent) / f"{source.name}.rejects.jsonl"
