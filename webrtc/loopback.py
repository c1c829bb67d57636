"""Test-only switch: let aioice gather 127.0.0.1 host candidates.

aioice leaves 127.0.0.1 out of its host candidates, so on a machine whose only interface is
``lo`` (a test's private network namespace, ``unshare -n``) aiortc has nothing to offer. Tests
set ``HELSEROM_TEST_ALLOW_LOOPBACK_ICE=1`` and run the gateway inside such a namespace; the
switch refuses loudly anywhere else, so production cannot turn it on by accident (a host with
any other interface, or the variable unset, raises ``LoopbackRefused``).
"""

from __future__ import annotations

import logging
import os
import socket

import aioice.ice

from webrtc.errors import LoopbackRefused

logger = logging.getLogger(__name__)

ENV_VAR = "HELSEROM_TEST_ALLOW_LOOPBACK_ICE"
_original = aioice.ice.get_host_addresses  # restored never: the switch is for test processes


def requested() -> bool:
    """True if the environment asks for loopback candidates."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def interfaces() -> list[str]:
    """This network namespace's interface names."""
    return [name for _, name in socket.if_nameindex()]


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _original(use_ipv4, use_ipv6)
    if use_ipv4 and "127.0.0.1" not in addresses:
        addresses.append("127.0.0.1")
    return addresses


def enable_loopback_candidates() -> None:
    """Gather 127.0.0.1 (only with the env var set, in a netns whose only interface is lo)."""
    if not requested():
        raise LoopbackRefused(f"loopback ICE candidates need {ENV_VAR}=1 (tests only)")
    names = interfaces()
    if names != ["lo"]:
        raise LoopbackRefused(
            f"{ENV_VAR} is set but this network namespace has interfaces {names}: loopback "
            "ICE candidates are for tests in a private namespace with only lo (unshare -n); "
            f"unset {ENV_VAR} in production"
        )
    aioice.ice.get_host_addresses = _with_loopback
    logger.warning(
        "test mode: ICE gathers loopback candidates (%s=1, namespace with only lo)", ENV_VAR
    )
