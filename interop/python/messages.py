"""The messages the Python clients send: the same shapes as the Rust side's
(interop/tests/python.rs), text and binary, below the 64-byte compression
threshold, about 10 KiB and 1 MiB."""

import json
import random


def json_like(size):
    """A JSON array of chat-like records, at least `size` bytes long."""
    records = []
    length = 2
    i = 0
    while length < size:
        record = json.dumps(
            {
                "id": i,
                "user": f"user-{i % 17}",
                "text": f"message number {i} \u2713",
                "tags": ["chat", "room-%d" % (i % 5)],
            },
            ensure_ascii=False,
        )
        records.append(record)
        length += len(record.encode()) + 1
        i += 1
    return "[" + ",".join(records) + "]"


def messages():
    rng = random.Random(7)
    return [
        "hello \u2713",
        b"\x01\x02\x03",
        "",
        b"",
        json_like(10 * 1024),
        json_like(10 * 1024).encode(),
        json_like(1024 * 1024),
        rng.randbytes(1024 * 1024),
    ]
