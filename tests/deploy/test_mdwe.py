"""MemoryDenyWriteExecute, decided by experiment: the gateway's native imports under PR_SET_MDWE.

systemd implements MemoryDenyWriteExecute= with a seccomp filter (or PR_SET_MDWE on newer
versions); both refuse W+X mappings. We run the real imports and codec work in a child that
set PR_SET_MDWE (Linux >= 6.3) and check that the unit's setting matches what works.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "helserom-gateway.service"
PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

PROBE = """
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(65, 1, 0, 0, 0) == 0, ctypes.get_errno()
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("W+X mapping allowed: MDWE not in force")
except OSError:
    pass
import numpy as np, cv2, av, cffi, aiortc
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
img = (np.random.default_rng(1).random((120, 160, 3)) * 255).astype(np.uint8)
cv2.GaussianBlur(img, (5, 5), 0)
vp8 = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
assert vp8.encode(av.VideoFrame.from_ndarray(img, format="bgr24"))[0]
print("media-ok", flush=True)
from OpenSSL import SSL  # aiortc's DTLS: RTCDtlsTransport sets a verify callback
ctx = SSL.Context(SSL.DTLS_METHOD)
try:
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: True)
    print("dtls-ok", flush=True)
except MemoryError:
    print("dtls-refused", flush=True)
"""


def _mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0)


@pytest.mark.skipif(not _mdwe_supported(), reason="kernel without PR_SET_MDWE (Linux < 6.3)")
def test_unit_setting_matches_what_works_under_mdwe() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert "media-ok" in lines, run.stdout  # numpy, cv2, av, aiortc's VP8 all work under MDWE
    dtls_ok = "dtls-ok" in lines
    unit_sets_mdwe = any(
        line.strip() == "MemoryDenyWriteExecute=yes" for line in UNIT.read_text().splitlines()
    )
    assert unit_sets_mdwe == dtls_ok, (
        "MemoryDenyWriteExecute=yes must be set exactly when aiortc's DTLS verify callback "
        f"works under MDWE (probe: {run.stdout.strip()!r}); update systemd/ and docs/deployment.md"
    )
