"""Where a `tracehouse serve` on this machine keeps what a client on the same machine needs: its data directory and
the key it made for the default project at its first start (`<data-dir>/default-key`, mode 0600).

In the SDK because it is light: the demo (plain install), the server's own commands and the server agree on it.
"""

from __future__ import annotations

import os
from pathlib import Path

KEY_FILE = "default-key"


def default_data_dir() -> Path:
    """The server's default data directory (platformdirs' user data dir; the XDG one where it is not installed)."""
    try:
        import platformdirs  # the server extra's; it decides where `serve` puts its data
    except ImportError:
        return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tracehouse"
    return Path(platformdirs.user_data_dir("tracehouse"))


def local_key(data_dir: Path | None = None) -> str | None:
    """The key a local server wrote at its first start, if this user can read it (None otherwise)."""
    path = (data_dir or Path(os.environ.get("TRACEHOUSE_DATA_DIR") or default_data_dir())) / KEY_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
