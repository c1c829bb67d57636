"""The signalling relay for the browser-to-browser conversation (docs/conversation.md).

The gateway admits peers (the kiosk, admitted participants) and relays their messages; it
never parses SDP. Each connected peer has a bounded outgoing queue: a peer that cannot keep up
is disconnected (signalling cannot drop a message and stay consistent) and reconnects.

Messages to the browser: ``welcome`` {id, role, peers}, ``join`` {peer}, ``leave`` {id},
and relayed ``offer``/``answer``/``restart`` with ``from`` added.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.auth import Principal, principal_of
from gateway.ice import KIOSK_PEER_ID

logger = logging.getLogger(__name__)

QUEUE_SIZE = 64
MAX_MESSAGE_BYTES = 256 * 1024  # an SDP with every candidate gathered fits easily
RELAYED_TYPES = frozenset({"offer", "answer", "restart"})
CLOSE_REPLACED = 4000
CLOSE_REMOVED = 4403
CLOSE_REFUSED = 4401
CLOSE_SLOW = 4408
CLOSE_ENDED = 4410


@dataclass(eq=False)
class Peer:
    """One connected signalling socket."""

    id: str
    role: str
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    close_reason: str = ""

    def close(self, code: int, reason: str) -> None:
        """Ask the socket's tasks to close it with ``code``."""
        if not self.closing.is_set():
            self.close_code, self.close_reason = code, reason
            self.closing.set()

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "role": self.role}


class SignalHub:
    """Who is connected, and the relay between them."""

    def __init__(self) -> None:
        self.peers: dict[str, Peer] = {}
        self.relayed = 0
        self.refused = 0

    def connect(self, principal: Principal) -> Peer:
        """Register a peer (a second socket for the same id replaces the first)."""
        peer_id = principal.participant_id or KIOSK_PEER_ID
        old = self.peers.get(peer_id)
        if old is not None:
            old.close(CLOSE_REPLACED, "replaced by a newer connection")
            self._forget(old)
        peer = Peer(peer_id, principal.role)
        others = [p.describe() for p in self.peers.values()]
        self.peers[peer_id] = peer
        self.tell(peer, {"type": "welcome", "id": peer_id, "role": peer.role, "peers": others})
        self._broadcast({"type": "join", "peer": peer.describe()}, exclude=peer)
        logger.info("signalling: %s (%s) joined, %d connected", peer_id, peer.role, len(self.peers))
        return peer

    def disconnect(self, peer: Peer) -> None:
        """Forget a peer whose socket closed."""
        if self.peers.get(peer.id) is peer:
            self._forget(peer)

    def _forget(self, peer: Peer) -> None:
        del self.peers[peer.id]
        self._broadcast({"type": "leave", "id": peer.id}, exclude=peer)
        logger.info("signalling: %s left, %d connected", peer.id, len(self.peers))

    def kick(self, peer_id: str, code: int = CLOSE_REMOVED, reason: str = "removed") -> bool:
        """Close a peer's socket now (participant removed). True if it was connected."""
        peer = self.peers.get(peer_id)
        if peer is None:
            return False
        peer.close(code, reason)
        self._forget(peer)
        return True

    def kick_participants(self, reason: str) -> None:
        """Close every participant's socket (the session ended)."""
        for peer_id in [p for p in self.peers if p != KIOSK_PEER_ID]:
            self.kick(peer_id, CLOSE_ENDED, reason)

    def relay(self, sender: Peer, message: dict[str, Any]) -> str | None:
        """Forward an offer/answer/restart to its ``to``; an error text if it cannot be."""
        kind = message.get("type")
        if kind not in RELAYED_TYPES:
            return f"unknown message type {kind!r}; expected one of {sorted(RELAYED_TYPES)}"
        to = message.get("to")
        target = self.peers.get(to) if isinstance(to, str) else None
        if target is None or target is sender:
            return f"no connected peer {to!r}"
        sdp = message.get("sdp")
        if kind != "restart" and not isinstance(sdp, str):
            return f"{kind} needs an sdp string"
        out: dict[str, Any] = {"type": kind, "from": sender.id, "to": target.id}
        if isinstance(sdp, str):
            out["sdp"] = sdp
        self.tell(target, out)
        self.relayed += 1
        return None

    def _broadcast(self, message: dict[str, Any], *, exclude: Peer) -> None:
        for peer in list(self.peers.values()):
            if peer is not exclude:
                self.tell(peer, message)

    def tell(self, peer: Peer, message: dict[str, Any]) -> None:
        """Queue a message for one peer (disconnect it if its queue is full)."""
        try:
            peer.queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning("signalling: %s does not keep up; disconnecting it", peer.id)
            peer.close(CLOSE_SLOW, "too slow")


def origin_allowed(ws: WebSocket) -> bool:
    """A browser's Origin must be the gateway's own (as for /api/v1/live)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def serve_socket(ws: WebSocket, hub: SignalHub) -> None:
    """One signalling WebSocket: admit, then relay until either side closes."""
    principal = await principal_of(ws)
    if principal is None or not origin_allowed(ws):
        hub.refused += 1
        await ws.close(code=CLOSE_REFUSED, reason="authentication or origin refused")
        return
    await ws.accept()
    peer = hub.connect(principal)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_send_loop(ws, peer))
            tg.create_task(_receive_loop(ws, hub, peer))
            await peer.closing.wait()
            raise _Closed
    except* _Closed:
        pass
    except* WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(peer)
        if ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError):  # the client went away first
                await ws.close(code=peer.close_code, reason=peer.close_reason)


class _Closed(Exception):
    """Ends a socket's TaskGroup."""


async def _send_loop(ws: WebSocket, peer: Peer) -> None:
    try:
        while True:
            message = await peer.queue.get()
            await ws.send_text(json.dumps(message))
    except (WebSocketDisconnect, RuntimeError, OSError):  # the client went away
        peer.close(1000, "")


async def _receive_loop(ws: WebSocket, hub: SignalHub, peer: Peer) -> None:
    while True:
        frame = await ws.receive()
        if frame["type"] == "websocket.disconnect":
            peer.close(1000, "")
            return
        text = frame.get("text")
        if text is None:
            hub.tell(peer, {"type": "error", "error": "expected a text frame with JSON"})
            continue
        if len(text) > MAX_MESSAGE_BYTES:
            peer.close(1009, "message too big")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            hub.tell(peer, {"type": "error", "error": "expected a JSON object"})
            continue
        error = hub.relay(peer, message)
        if error is not None:
            hub.tell(peer, {"type": "error", "error": error, "ref": message.get("type")})
