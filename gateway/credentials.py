"""systemd credentials (``LoadCredential=``): files in ``$CREDENTIALS_DIRECTORY``.

The unit loads the whole directory ``/etc/helserom/credentials`` under the ID ``helserom``, so a
file ``admin-token`` there arrives as ``helserom_admin-token`` (systemd.exec(5)); a credential
passed one by one keeps its plain name. Both are looked up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PREFIX = "helserom_"


def credential_path(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The file of credential ``name``, if systemd passed one."""
    env = os.environ if env is None else env
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    for candidate in (Path(directory) / name, Path(directory) / (PREFIX + name)):
        if candidate.is_file():
            return candidate
    return None
