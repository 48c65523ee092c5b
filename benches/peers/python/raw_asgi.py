"""Raw ASGI peer: plaintext and JSON with no framework at all, served by uvicorn.

This is the floor under FastAPI: the same server (uvicorn with httptools and uvloop) calling a
bare ASGI callable, so the gap between this row and the FastAPI row is the framework's cost and
the gap between this row and rasgi is the runtime's. Only /plaintext and /json exist; the
database shapes need a driver and a pool, which is the framework row's job.

Run by the harness as
    uvicorn raw_asgi:app --host 127.0.0.1 --port P --workers 1 --no-access-log
"""

import json

PLAIN_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
NOT_FOUND = b"Not Found"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        # Answer the lifespan protocol so uvicorn does not log that it is unsupported.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return

    path = scope["path"]
    if path == "/plaintext":
        status, headers, body = 200, PLAIN_HEADERS, b"Hello, World!"
    elif path == "/json":
        # Serialized on every request, as the TechEmpower rules require.
        body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        status = 200
    else:
        status, body = 404, NOT_FOUND
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"9")]
    # uvicorn adds the Server and Date headers itself.
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
