#!/usr/bin/env python3
"""Writes the seed corpora: fuzz/corpus/<target>/seed-*.

The seeds of the connection targets are encodings of their `arbitrary`
input (`rusty_socket_proto_fuzz::driver::Input`): limits, eager byte count,
a script of operations, then the tape of bytes the operations take. This
script encodes them the way `arbitrary` 1.x decodes: integers little-endian,
bool as one byte, `Option` as a bool then the value, an enum as a u32 `v`
picking variant `(v * count) >> 32`, a `Vec` as (1, element)* then 0, and
the last field (the tape) as the rest. Keep `OPS` in the order of `Op`.

Run from anywhere: python3 fuzz/make_seeds.py
"""

import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# The client under test (fixed seed) sends this key; see `CLIENT_SEED`.
CLIENT_ACCEPT = "MXHCaJPMZA/Ir6yhiiyxoBpnBAA="

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + CLIENT_ACCEPT.encode() + b"\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n\r\n"
)

# RFC 6455 section 5.7: server frames (unmasked) and the masked client ones.
HELLO = bytes([0x81, 0x05]) + b"Hello"
HELLO_MASKED = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
HEL = bytes([0x01, 0x03]) + b"Hel"
LO = bytes([0x80, 0x02]) + b"lo"
PING = bytes([0x89, 0x05]) + b"Hello"
PONG_MASKED = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
BIN_256 = bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(256)
BIN_64K_HEAD = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
CLOSE_1000 = bytes([0x88, 0x02, 0x03, 0xE8])

OPS = ["Read", "Frame", "Send", "SendFragment", "SendPrepared", "Ping", "Pong", "Close",
       "Accept", "Transmit", "Write", "Sleep", "Wake", "Eof", "Reset", "TransmitLimited",
       "WriteLimited", "Deflated"]


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def op(name, *fields):
    index = OPS.index(name)
    v = -(-(index << 32) // len(OPS))  # ceil(index * 2^32 / count)
    return b"\x01" + struct.pack("<I", v) + b"".join(fields)


def read(n, lend=False):
    return op("Read", u16(n), u8(lend))


def frame(head, n, masked=True, split=0):
    return op("Frame", u8(head), u8(masked), u16(n), u16(split))


def send(n, text=True, times=0):
    return op("Send", u8(text), u16(n), u8(times))


def fragment(n, fin, text=True, times=0):
    return op("SendFragment", u8(text), u16(n), u8(times), u8(fin))


def prepared(n, text=True, times=0):
    return op("SendPrepared", u8(text), u16(n), u8(times))


def close(code, reason_len):
    return op("Close", u8(1) + u16(code), u8(reason_len))


def ping(n):
    return op("Ping", u8(n))


def transmit(pieces=0):
    return op("Transmit", u8(pieces))


def write(n):
    return op("Write", u16(n))


def sleep(ms):
    return op("Sleep", u16(ms))


def wake():
    return op("Wake")


def eof():
    return op("Eof")


def reset():
    return op("Reset")


def transmit_limited(max_len, pieces=0):
    return op("TransmitLimited", u16(max_len), u8(pieces))


def write_limited(max_len):
    return op("WriteLimited", u16(max_len))


def limits(frame=255, message=1023, outgoing=1023, streaming=False, auto_pong=True,
           keepalive=0, idle=0, close_ms=0):
    return (u8(frame - 1) + u16(message - 1) + u16(outgoing - 1) + u8(streaming)
            + u8(auto_pong) + u8(keepalive) + u8(idle) + u8(close_ms))


def deflated_op(n, text=True, times=0, level=6, frames=0, split=0):
    return op("Deflated", u8(text), u16(n), u8(times), u8(level), u8(frames), u16(split))


def agreement(role, server_nct=False, client_nct=False, server_bits=15, client_bits=15,
              level=1, threshold=0):
    """`Some(DeflateParams)` for the `role` under test, the window bits as
    agreed (server 8 to 15; client 9 to 15 when the server is under test,
    8 to 15 when the client is)."""
    client_raw = client_bits - (9 if role == "server" else 8)
    return (b"\x01" + u8(server_nct) + u8(client_nct) + u8(server_bits - 8) + u8(client_raw)
            + u8(level) + u8(threshold))


def connection(limit_bytes, eager, ops, tape, deflate=None):
    """`deflate`: bytes from `agreement()`, or None for no agreement."""
    return limit_bytes + (deflate or b"\x00") + u8(eager) + b"".join(ops) + b"\x00" + tape


def deflated(data, wbits=15, level=6, compressor=None):
    """One compressed message (RFC 7692 section 7.2.1): raw deflate, sync
    flush, without the 00 00 ff ff the flush ends with. Pass `compressor`
    to keep its context (context takeover)."""
    c = compressor or zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate_input(payload, wbits=15, limit=1024, reset=True, end=True, streaming=False,
                  again=False, cuts=()):
    """The `inflate` target's input; `limit` is max_message_size (1 + 4k)."""
    return (u8(wbits - 9) + u16((limit - 1) // 4) + u8(reset) + u8(end) + u8(streaming)
            + u8(again) + b"".join(b"\x01" + u8(c) for c in cuts) + b"\x00" + payload)


def write_seeds(target, seeds):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)


def main():
    write_seeds("frame_header", {
        "text-hello": HELLO,
        "masked-hello": HELLO_MASKED,
        "fragment-hel": HEL,
        "continuation-lo": LO,
        "ping": PING,
        "masked-pong": PONG_MASKED,
        "binary-256": BIN_256[:4],
        "binary-64k": BIN_64K_HEAD,
    })
    write_seeds("utf8", {
        "ascii-whole": b"\x00Hello, world",
        "greek-bytewise": b"\x01\x00" + "κόσμε".encode(),
        "emoji-cut": b"\x02\x01\x02" + "héllo wörld €😀".encode(),
        "surrogate": b"\x01\x01" + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        "truncated": b"\x00\xf0\x9f\x98",
    })
    write_seeds("handshake_request", {
        "rfc-whole": b"\x00" + REQUEST,
        "rfc-bytewise": b"\x01\x00" + REQUEST,
        "rfc-then-frames": b"\x02\x10\x40" + REQUEST + HELLO_MASKED + PONG_MASKED,
        "plain-get": b"\x00GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
    })
    write_seeds("handshake_response", {
        "101-whole": b"\x00" + RESPONSE,
        "101-bytewise": b"\x01\x00" + RESPONSE,
        "101-then-frames": b"\x01\x20" + RESPONSE + HELLO + HEL + PING + LO + CLOSE_1000,
        "426": b"\x00HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
               b"Content-Length: 0\r\n\r\n",
    })

    text = b"A WebSocket message, compressed. " * 20
    bomb = deflated(bytes(1 << 20), level=9)
    write_seeds("inflate", {
        "hello-rfc7692": inflate_input(bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])),
        "stored-hello": inflate_input(bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello"),
        "final-block": inflate_input(bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]),
                                     again=True, reset=False),
        "text-cut": inflate_input(deflated(text, wbits=9), wbits=9, cuts=(7, 0, 30),
                                  streaming=True),
        "text-twice-takeover": inflate_input(deflated(text, wbits=12), wbits=12, reset=False,
                                             again=True, cuts=(50,)),
        "unfinished": inflate_input(deflated(text)[:40], end=False, streaming=True, cuts=(9,)),
        "bomb": inflate_input(bomb, limit=64 << 10, cuts=(200, 3)),
        "bomb-streaming": inflate_input(bomb, limit=4097, streaming=True),
        "garbage": inflate_input(bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34]), cuts=(2,)),
    })

    # Client: the server's frames arrive as they are on the wire (unmasked).
    rfc = HELLO + HEL + LO + PING + BIN_256
    write_seeds("connection_client", {
        "rfc-frames": connection(limits(frame=256), 0, [
            read(len(HELLO)), read(len(HEL)), read(len(LO)), read(len(PING)), transmit(),
            read(len(BIN_256), lend=True), send(5), fragment(3, False), fragment(2, True, times=2),
            close(1000, 3), transmit(), read(len(CLOSE_1000)),
        ], rfc + b"HelloHello" + b"bye" + CLOSE_1000),
        "eager-fragmented": connection(limits(streaming=True), len(HEL + PING + LO), [
            transmit(1), write(3), write(100), read(len(HELLO)),
        ], HEL + PING + LO + HELLO),
        "timers": connection(limits(keepalive=10, idle=50, close_ms=20), 0, [
            sleep(10), write(2), read(2), sleep(60), transmit(), sleep(30),
        ], bytes([0x8A, 0x00])),
        # A ping arrives while a large frame is half-written: its pong must wait.
        "ping-mid-frame": connection(limits(), 0, [
            send(100, text=False, times=63), transmit(1), write(3000), read(len(PING)),
            transmit(),
        ], b"0123456789" * 10 + PING),
        "backpressure": connection(limits(outgoing=16), 0, [
            send(12), send(8), ping(4), transmit(), send(300, text=False), send(1),
        ], b"twelve bytes" + b"eight by" + b"ping" + bytes(300) + b"x"),
        # After our close, the server's data and ping are still delivered (the
        # ping unanswered); its close ends it, and the EOF after that.
        "data-after-our-close": connection(limits(close_ms=40), 0, [
            close(1000, 3), write_limited(3), sleep(30), frame(0x82, 5, masked=False),
            frame(0x89, 4, masked=False, split=3), transmit_limited(2), sleep(30),
            frame(0x88, 2, masked=False), wake(), eof(),
        ], b"bye" + b"Hello" + b"ping" + b"\x03\xe8"),
        # The peer's EOF with output queued: it is still written, slowly,
        # each write restarting the close timer.
        "eof-then-write": connection(limits(close_ms=20, keepalive=10), 0, [
            send(200, text=False), eof(), sleep(15), write(50), sleep(15), write_limited(60),
            sleep(15), transmit(),
        ], bytes(200)),
    })
    words = b"A WebSocket message, compressed. "
    hello = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    write_seeds("connection_client", {
        "deflate-takeover": connection(limits(), 0, [
            deflated_op(len(words), times=3), deflated_op(len(words), times=2, frames=2, split=4),
            frame(0xC1, len(hello), masked=False), send(len(words), times=4), send(5),
            transmit(), send(len(words), times=4), transmit(),
        ], words * 2 + hello + words + b"Hello" + words,
            deflate=agreement("client", server_bits=12, client_bits=10, level=6)),
        "deflate-no-takeover-8": connection(limits(streaming=True), 0, [
            deflated_op(len(words), times=9, frames=3), send(len(words), times=4), transmit(),
            frame(0xC2, 4, masked=False),
        ], words + words + b"\xff\xff\xff\xff",
            deflate=agreement("client", server_nct=True, client_nct=True, server_bits=8,
                              client_bits=8, threshold=10)),
        "rsv1-without-deflate": connection(limits(), 0, [deflated_op(5), transmit()], b"Hello"),
    })
    write_seeds("connection_server", {
        "deflate-takeover": connection(limits(), 0, [
            deflated_op(len(words), times=3), deflated_op(len(words), times=2, frames=2, split=9),
            frame(0xC1, len(hello)), send(len(words), times=4), prepared(len(words), times=2),
            transmit(), frame(0xC9, 0), transmit(),
        ], words * 2 + hello + words * 2,
            deflate=agreement("server", server_bits=9, client_bits=13, level=9)),
        "deflate-no-takeover": connection(limits(streaming=True, message=200), 0, [
            deflated_op(len(words), times=3, frames=1), prepared(len(words), times=3),
            send(len(words), times=3), write(40), deflated_op(100, text=False, times=50),
            transmit(),
        ], words * 3 + bytes(100),
            deflate=agreement("server", server_nct=True, client_nct=True, server_bits=8,
                              client_bits=9, threshold=20)),
        "deflate-garbage": connection(limits(), 0, [frame(0xC1, 6), transmit()],
                                      bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34]),
                                      deflate=agreement("server")),
    })

    # Server: the client's frames are built by `Frame` ops, masked.
    text = b"Hello" + b"Hel" + b"lo" + b"Hello"
    write_seeds("connection_server", {
        "rfc-frames": connection(limits(), 0, [
            frame(0x81, 5), frame(0x01, 3, split=2), frame(0x80, 2), frame(0x89, 5),
            transmit(), read(len(HELLO_MASKED)), send(100, text=False, times=63), write(5000),
            close(1000, 3), send(1), write(1000), transmit(1), frame(0x88, 2),
        ], text + HELLO_MASKED + b"0123456789" * 10 + b"bye" + b"!" + b"\x03\xe8"),
        "eager-frames": connection(limits(), len(HELLO_MASKED + PONG_MASKED),
                                   [transmit()], HELLO_MASKED + PONG_MASKED),
        "fragmented-utf8": connection(limits(streaming=True, message=64), 0, [
            frame(0x01, 4), frame(0x89, 0), frame(0x80, 3),
            fragment(3, False), fragment(2, True), write(7), write(50),
        ], "héllo wö".encode()[:4] + "héllo wö".encode()[4:] + "é€".encode()),
        "invalid-utf8": connection(limits(), 0, [frame(0x81, 4), transmit()],
                                   b"\xce\xba\xed\xa0"),
        # A ping arrives while a large frame is half-written: its pong must wait.
        "ping-mid-frame": connection(limits(), 0, [
            transmit(), send(100, text=False, times=63), transmit(1), frame(0x89, 4), transmit(1),
            write(3000), frame(0x89, 4), transmit(), prepared(5), prepared(100, times=50),
            write(10), frame(0x89, 4), transmit(),
        ], b"0123456789" * 10 + b"ping" + b"pong" + b"Hello" + b"0123456789" * 10 + b"ping"),
        # After our close, the client's data is delivered until its close.
        "data-after-our-close": connection(limits(close_ms=50, idle=30), 0, [
            close(1000, 3), frame(0x81, 5), frame(0x89, 4), transmit_limited(3, 1), sleep(20),
            write_limited(1), frame(0x82, 3, split=4), frame(0x88, 2), transmit(),
        ], b"bye" + b"Hello" + b"ping" + b"bin" + b"\x03\xe8"),
        # The idle timer closes; the client never answers; the close timer ends it.
        "idle-close-timeout": connection(limits(idle=20, close_ms=30, keepalive=8), 0, [
            frame(0x8A, 0), wake(), wake(), frame(0x89, 1), wake(), transmit_limited(4),
            wake(), wake(),
        ], b"p"),
        "reset-with-output": connection(limits(), 0, [
            send(10), frame(0x81, 5), reset(), transmit(),
        ], b"0123456789" + b"Hello"),
        "eof-while-open": connection(limits(), 0, [
            send(10), eof(), frame(0x81, 5), write(4), transmit_limited(0, 1), transmit(),
        ], b"0123456789" + b"Hello"),
    })


if __name__ == "__main__":
    main()
