"""uvicorn + websockets peer of the `ws` suite: FastAPI's `@app.websocket`, written as the FastAPI
documentation writes it.

Run by the harness as
    uvicorn ws_app:app --host 127.0.0.1 --port P --workers 1 --ws websockets --no-access-log
(`websockets` is the library uvicorn[standard] speaks WebSocket with).

- `/ws/echo` sends every message back, text as text and bytes as bytes.
- `/ws/broadcast` sends every text message to every connected client with the documentation's
  `ConnectionManager`: a list of sockets and one `await send_text` per socket.
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass


class ConnectionManager:
    def __init__(self):
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket):
        if websocket in self.active_connections:
            self.active_connections.remove(websocket)

    async def broadcast(self, message: str):
        for connection in list(self.active_connections):
            try:
                await connection.send_text(message)
            except Exception:
                self.disconnect(connection)


manager = ConnectionManager()


@app.websocket("/ws/broadcast")
async def broadcast(websocket: WebSocket):
    await manager.connect(websocket)
    try:
        while True:
            await manager.broadcast(await websocket.receive_text())
    except WebSocketDisconnect:
        manager.disconnect(websocket)
