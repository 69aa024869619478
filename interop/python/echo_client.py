"""A Python `websockets` client for interop/tests/python.rs.

Connects to URL (the first argument) with websockets' default compression
(it offers `permessage-deflate; client_max_window_bits`), sends every
message of messages.py twice (the second round finds the compression
context warm, where context takeover was agreed), checks that each echo
comes back intact and of the same type, and closes with 1000.

Prints `VERSION`, `OFFER` and `ANSWER` lines (the extension headers), then
`OK <n> messages` and exits 0; on any difference it prints `MISMATCH ...`
and exits 1. The whole run is bounded by 60 seconds.
"""

import asyncio
import sys

import websockets
from websockets.asyncio.client import connect

from messages import messages


def describe(message):
    kind = "text" if isinstance(message, str) else "binary"
    return f"{kind} of {len(message)}"


async def main(url):
    async with connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        print(f"VERSION {websockets.__version__}", flush=True)
        print(f"OFFER {ws.request.headers.get('Sec-WebSocket-Extensions')}", flush=True)
        print(f"ANSWER {ws.response.headers.get('Sec-WebSocket-Extensions')}", flush=True)
        count = 0
        for _ in range(2):
            for message in messages():
                await ws.send(message)
                echo = await ws.recv()
                if type(echo) is not type(message) or echo != message:
                    print(f"MISMATCH sent {describe(message)}, got {describe(echo)}", flush=True)
                    return 1
                count += 1
        await ws.close(1000, "done")
    print(f"OK {count} messages", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60)))
