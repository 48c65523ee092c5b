"""Small load clients for the suites that wrk cannot drive. Standard library only.

- hold_idle_connections(): the `memory` suite's client. It opens many keep-alive connections,
  sends one request on each, and then holds them idle while the harness reads the server's
  RSS.
- sequential_requests(): the `instructions` suite's client. It sends an exact number of
  requests, one at a time on one keep-alive connection, so the instruction count divides
  cleanly by a known request count.

Both speak just enough HTTP/1.1 for a `GET /plaintext` whose response carries Content-Length,
which every contender's /plaintext does.
"""

import asyncio
import socket
import time


def request_bytes(path, port):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    raise ValueError("response without Content-Length: " + head[:200].decode("latin-1"))


async def read_response(reader):
    """Reads one response (head + Content-Length body) and returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(content_length(head))
    return int(head.split(b" ", 2)[1])


async def hold_idle_connections(port, count, on_idle, path="/plaintext", parallel=200):
    """Opens `count` connections, uses each for one request, refreshes them all with a second
    request, calls `on_idle()` while they sit idle, and finally checks how many survived.

    Why the second pass: servers close idle keep-alive connections after a few seconds (uvicorn
    and rasgi both default to 5 s). Opening 10,000 connections takes a few seconds, so by the
    time the last one is open the first may be near its timeout. A quick second request on each
    restarts every idle timer just before the measurement.

    Returns a dict with how many connections were opened, how many answered the refresh, the
    value on_idle() returned, and how many still answered afterwards.
    """
    request = request_bytes(path, port)
    gate = asyncio.Semaphore(parallel)  # stays below the listen backlog
    conns = []

    async def open_one():
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await read_response(reader)
                conns.append((reader, writer))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass

    async def ping(pair):
        reader, writer = pair
        async with gate:
            try:
                writer.write(request)
                await read_response(reader)
                return True
            except (OSError, asyncio.IncompleteReadError, ValueError):
                return False

    started = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(count)))
    opened = len(conns)
    refreshed = sum(await asyncio.gather(*(ping(c) for c in conns)))
    ready_after = time.monotonic() - started
    # Let the server finish any deferred work (buffer shrinking, allocator trimming) first.
    await asyncio.sleep(0.5)
    measured = on_idle()
    alive = sum(await asyncio.gather(*(ping(c) for c in conns)))
    for _, writer in conns:
        writer.close()
    await asyncio.sleep(0.2)
    return {
        "opened": opened,
        "refreshed": refreshed,
        "alive_after": alive,
        "seconds_to_open": round(ready_after, 2),
        "measured": measured,
    }


def sequential_requests(port, count, path="/plaintext", timeout=60.0):
    """Sends `count` GETs one after another on one keep-alive connection; returns how many
    got a 200. Blocking sockets: the client's speed does not matter, only the exact count."""
    return pipelined_requests(port, count, depth=1, path=path, timeout=timeout)


def pipelined_requests(port, count, depth=16, path="/plaintext", timeout=60.0):
    """Sends `count` GETs on one keep-alive connection, `depth` per write (as the pipelined
    wrk script does), reading each batch's responses before the next write; returns how
    many got a 200."""
    if count == 0:
        return 0
    request = request_bytes(path, port)
    ok = 0
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        buffer = b""
        while sent < count:
            batch = min(depth, count - sent)
            sock.sendall(request * batch)
            sent += batch
            for _ in range(batch):
                while b"\r\n\r\n" not in buffer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = content_length(head + b"\r\n")
                while len(buffer) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buffer += chunk
                buffer = buffer[length:]
                if head.split(b" ", 2)[1] == b"200":
                    ok += 1
    return ok
