"""A compression bomb from a Python `websockets` client, for
interop/tests/python.rs.

Connects to URL (the first argument) with websockets' default compression,
sends one binary message of SIZE zero bytes (the second argument; it
deflates to about a thousandth of that), then waits for the server's
answer. Prints `CLOSED <code> <reason>` for the close frame received (or
`CLOSED none` when the connection ended without one, `ECHO <n>` if the
message came back), and exits 0 when the code was 1009 (message too big).
Bounded by 60 seconds.
"""

import asyncio
import sys

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def main(url, size):
    async with connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        print(f"VERSION {websockets.__version__}", flush=True)
        print(f"ANSWER {ws.response.headers.get('Sec-WebSocket-Extensions')}", flush=True)
        try:
            await ws.send(bytes(size))
            echo = await ws.recv()
            print(f"ECHO {len(echo)}", flush=True)
            return 1
        except ConnectionClosed as closed:
            frame = closed.rcvd
            if frame is None:
                print(f"CLOSED none ({closed!r})", flush=True)
                return 1
            print(f"CLOSED {frame.code} {frame.reason}", flush=True)
            return 0 if frame.code == 1009 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 60)))
