"""ICE servers for every peer connection: STUN URLs, and TURN with short-lived credentials.

TURN credentials follow coturn's ``use-auth-secret`` REST scheme (draft-uberti-behave-turn-rest):
the username is ``<expiry unix s>:<participant id>`` and the password is
``base64(HMAC-SHA1(static-auth-secret, username))``, so the gateway and coturn share only the
secret and nothing is stored per call. The secret comes from a file or a systemd credential,
never from the TOML itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

from gateway.auth import Principal
from gateway.settings import IceSettings, Settings

KIOSK_PEER_ID = "kiosk"  # the nurse's kiosk in the roster and in TURN usernames


class IceError(Exception):
    """The TURN secret cannot be read (advice in the message)."""


def turn_secret(ice: IceSettings) -> bytes | None:
    """The coturn static-auth-secret from its file or systemd credential (None: no TURN)."""
    path: Path | None = ice.turn_secret_file
    if path is None and ice.turn_secret_credential is not None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if directory is None:
            raise IceError(
                f"ice.turn_secret_credential={ice.turn_secret_credential!r} but "
                "$CREDENTIALS_DIRECTORY is not set: start the gateway from its systemd unit "
                "with LoadCredential=, or use ice.turn_secret_file"
            )
        path = Path(directory) / ice.turn_secret_credential
    if path is None:
        return None
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise IceError(
            f"cannot read the TURN secret {path}: {exc.strerror} "
            "(ice.turn_secret_file must name a readable file holding coturn's static-auth-secret)"
        ) from None
    if not secret:
        raise IceError(f"the TURN secret file {path} is empty")
    return secret


def rest_credential(secret: bytes, user: str, ttl_s: float, now_s: float) -> tuple[str, str]:
    """(username, credential) for coturn use-auth-secret: valid until now + ttl."""
    username = f"{int(now_s + ttl_s)}:{user}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(
    settings: Settings | IceSettings, principal: Principal, *, now_s: float | None = None
) -> list[dict[str, Any]]:
    """RTCIceServer dicts (``urls``, and ``username``/``credential`` for TURN) for a principal."""
    ice = settings.ice if isinstance(settings, Settings) else settings
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_urls:
        secret = turn_secret(ice)
        if secret is not None:
            user = principal.participant_id or KIOSK_PEER_ID
            username, credential = rest_credential(
                secret, user, ice.credential_ttl_s, time.time() if now_s is None else now_s
            )
            servers.append(
                {"urls": list(ice.turn_urls), "username": username, "credential": credential}
            )
    return servers


def rtc_configuration(settings: Settings | IceSettings, principal: Principal) -> dict[str, Any]:
    """The body of GET /api/v1/session/ice-servers: an RTCConfiguration's ICE part."""
    ice = settings.ice if isinstance(settings, Settings) else settings
    return {
        "iceServers": ice_servers_for(ice, principal),
        "iceTransportPolicy": ice.transport_policy,
        "restartAfterS": ice.restart_after_s,
    }
