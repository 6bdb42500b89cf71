"""Where this user's coding agents keep their settings: home, config directories and PATH."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Machine:
    """The parts of the environment that locate client configuration files and executables."""

    home: Path
    config_home: Path
    search_path: str
    platform: str = sys.platform
    environ: dict[str, str] = field(default_factory=dict)

    @classmethod
    def current(cls) -> Machine:
        """Describe the running process's machine from HOME, XDG_CONFIG_HOME, APPDATA and PATH."""
        home = Path(os.environ.get("HOME") or Path.home()).expanduser()
        xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
        return cls(
            home=home,
            config_home=Path(xdg).expanduser() if xdg else home / ".config",
            search_path=os.environ.get("PATH", ""),
            environ=dict(os.environ),
        )

    def which(self, name: str) -> str | None:
        """Return the executable ``name`` found on this machine's PATH, or None."""
        return shutil.which(name, path=self.search_path)

    def app_config_dir(self, app: str) -> Path:
        """Return the per-user settings folder of an Electron editor (``Code``, ``Cursor``...) on this platform."""
        if self.platform == "darwin":
            return self.home / "Library" / "Application Support" / app
        if self.platform.startswith("win"):
            appdata = self.environ.get("APPDATA", "")
            return Path(appdata) / app if appdata else self.home / "AppData" / "Roaming" / app
        return self.config_home / app

    def display(self, path: Path) -> str:
        """Return ``path`` with the home directory written as ``~``."""
        try:
            return str(Path("~") / path.relative_to(self.home))
        except ValueError:
            return str(path)
