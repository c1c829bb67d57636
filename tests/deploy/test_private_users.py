"""PrivateUsers=yes with SupplementaryGroups=dialout: is a 0660 root:dialout device still usable?

PrivateUsers= puts the service in a user namespace that maps only its own user and group; the
supplementary groups show as unmapped. The kernel checks the real group ids, so access should
remain. Shown for real: setpriv drops to an unprivileged user in group dialout, unshare makes a
namespace mapping only that uid/gid, and the process opens a root:dialout 0660 file.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("unshare")),
    reason="needs root, setpriv and unshare",
)
def test_supplementary_group_access_survives_a_private_user_namespace() -> None:
    dialout = grp.getgrnam("dialout").gr_gid
    tmp_path = Path(tempfile.mkdtemp(prefix="hs-pu-", dir="/tmp"))  # pytest's tmp is 0700 root
    try:
        _check(tmp_path, dialout)
    finally:
        shutil.rmtree(tmp_path)


def _check(tmp_path: Path, dialout: int) -> None:
    device = tmp_path / "ttyFAKE"
    device.write_text("ok\n")
    os.chown(device, 0, dialout)
    device.chmod(0o660)
    tmp_path.chmod(0o755)
    inner = f"id -G; cat {device}"
    command = [
        "setpriv", "--reuid=65534", "--regid=65534", f"--groups={dialout}", "--",
        "unshare", "-U", "--map-user=65534", "--map-group=65534", "sh", "-c", inner,
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 0, run.stderr
    groups, content = run.stdout.split("\n", 1)
    assert str(dialout) not in groups.split()  # the group is not mapped inside ...
    assert content == "ok\n"  # ... and still grants access
    denied = subprocess.run(  # the same without the group: refused, so the check can fail
        [c if not c.startswith("--groups") else "--clear-groups" for c in command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
