"""A Python `websockets` echo server for interop/tests/python.rs.

Listens on 127.0.0.1 on a port the system picks and prints `PORT <n>` on
stdout, then one `CONNECTION ...` line per connection with the extensions
the client offered and the answer `websockets` gave. It echoes every text
and binary message as it came and serves until killed, or for at most
LIFETIME seconds (the first argument, default 120).

websockets' defaults are kept (compression="deflate": it accepts
permessage-deflate, limits both windows to 12 bits and keeps context
takeover unless the client asks otherwise); only `max_size` is raised from
1 MiB so that 1 MiB messages come through.
"""

import asyncio
import sys

import websockets
from websockets.asyncio.server import serve

MAX_SIZE = 16 * 2**20


async def echo(ws):
    offer = ws.request.headers.get("Sec-WebSocket-Extensions")
    answer = ws.response.headers.get("Sec-WebSocket-Extensions")
    print(f"CONNECTION offer={offer!r} answer={answer!r}", flush=True)
    async for message in ws:
        await ws.send(message)


async def main():
    lifetime = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    async with serve(echo, "127.0.0.1", 0, max_size=MAX_SIZE) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"VERSION {websockets.__version__}", flush=True)
        print(f"PORT {port}", flush=True)
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    asyncio.run(main())
