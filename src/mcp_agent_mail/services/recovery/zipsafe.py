"""Restore points: the zip's member layout, integrity checks and safe extraction.

A restore point is a zip holding ``metadata.json`` (with the SHA-256 of every
other member), ``snapshot/mailbox.sqlite3`` and the storage root under
``storage_repo/``. Nothing in a restore point is trusted until every member name is
proven harmless (including what it would mean to Git, see :mod:`.restore_git`)
and every hash matches. Extracted files never get an execute bit.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcp_agent_mail.errors import ArchiveError
from mcp_agent_mail.services.recovery.restore_git import check_storage_member

FORMAT_VERSION = 1
METADATA_NAME = "metadata.json"
SNAPSHOT_DIR = "snapshot/"
SNAPSHOT_NAME = "snapshot/mailbox.sqlite3"
STORAGE_PREFIX = "storage_repo/"
CHUNK = 1024 * 1024

_DRIVE = re.compile(r"^[A-Za-z]:")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError)
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError, ValueError)
_INVALID_HINT = "The file is damaged or was not made by `mcp-agent-mail archive save`; pick another restore point."


@dataclass
class VerifiedRestorePoint:
    """A restore point whose names and hashes have all been checked."""

    path: Path
    metadata: dict[str, Any]
    snapshot_member: str
    files: dict[str, str]
    directories: list[str] = field(default_factory=list)
    total_bytes: int = 0


def invalid(restore_point: Path, reason: str) -> ArchiveError:
    """Build the error raised for an unusable restore point."""
    return ArchiveError(f"{restore_point.name} cannot be restored: {reason}.", hint=_INVALID_HINT)


def check_member_name(raw: str) -> str:
    """Return the member name without a trailing ``/``; raise ValueError if it could escape the target."""
    if not raw or "\x00" in raw:
        raise ValueError(f"member name {raw!r} is empty or contains NUL")
    if "\\" in raw:
        raise ValueError(f"member name {raw!r} contains a backslash")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ValueError(f"member name {raw!r} is absolute")
    name = raw[:-1] if raw.endswith("/") else raw
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"member name {raw!r} has an empty, '.' or '..' part")
    return name


def _member_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFLNK:
        raise ValueError(f"member {info.filename!r} is a symbolic link")
    if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ValueError(f"member {info.filename!r} is a special file")
    if info.flag_bits & 0x1:
        raise ValueError(f"member {info.filename!r} is encrypted")
    if info.is_dir() or fmt == stat.S_IFDIR:
        if info.file_size:
            raise ValueError(f"directory member {info.filename!r} has content")
        return "dir"
    return "file"


def read_metadata(zf: zipfile.ZipFile) -> dict[str, Any]:
    """Return the parsed ``metadata.json`` of an open restore point (ValueError if missing or malformed)."""
    try:
        raw = zf.read(METADATA_NAME)
    except KeyError as exc:
        raise ValueError("metadata.json is missing") from exc
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"metadata.json is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise ValueError("metadata.json is not a JSON object")
    return metadata


def _check_layout(metadata: dict[str, Any], members: dict[str, str]) -> tuple[dict[str, str], list[str], str]:
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {version!r}")
    files = metadata.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.match(v) for k, v in files.items()
    ):
        raise ValueError("metadata.json has no valid 'files' table of SHA-256 hashes")
    directories = metadata.get("directories", [])
    if not isinstance(directories, list) or not all(isinstance(d, str) for d in directories):
        raise ValueError("metadata.json has an invalid 'directories' list")
    for name, kind in members.items():
        if name == METADATA_NAME:
            continue
        if kind == "file" and name not in files:
            raise ValueError(f"member {name!r} is not listed in metadata.json")
        if kind == "dir" and name not in directories and name not in files:
            raise ValueError(f"directory {name!r} is not listed in metadata.json")
        if not (
            name == "snapshot"
            or name.startswith(SNAPSHOT_DIR)
            or name + "/" == STORAGE_PREFIX
            or name.startswith(STORAGE_PREFIX)
        ):
            raise ValueError(f"unexpected member {name!r}")
        if name.startswith(STORAGE_PREFIX):
            check_storage_member(name[len(STORAGE_PREFIX) :], is_dir=kind == "dir")
    for name in files:
        if members.get(name) != "file":
            raise ValueError(f"member {name!r} listed in metadata.json is missing")
    snapshot = str((metadata.get("database") or {}).get("snapshot") or SNAPSHOT_NAME)
    if members.get(snapshot) != "file" or not re.fullmatch(r"snapshot/[^/]+\.sqlite3", snapshot):
        raise ValueError("the database snapshot (snapshot/*.sqlite3) is missing")
    if not any(n + "/" == STORAGE_PREFIX or n.startswith(STORAGE_PREFIX) for n in members):
        raise ValueError("the storage repository (storage_repo/) is missing")
    return files, list(directories), snapshot


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with zf.open(info) as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_restore_point(path: Path) -> VerifiedRestorePoint:
    """Check a restore point completely (names, layout, hashes) without extracting it."""
    if not path.is_file():
        raise invalid(path, "it is not a file")
    try:
        with zipfile.ZipFile(path) as zf:
            members: dict[str, str] = {}
            infos: dict[str, zipfile.ZipInfo] = {}
            for info in zf.infolist():
                name = check_member_name(info.filename)
                if name in members:
                    raise ValueError(f"member {name!r} appears twice")
                members[name] = _member_kind(info)
                infos[name] = info
            metadata = read_metadata(zf)
            files, directories, snapshot = _check_layout(metadata, members)
            total = 0
            for name, expected in files.items():
                if _hash_member(zf, infos[name]) != expected:
                    raise ValueError(f"member {name!r} does not match its SHA-256 in metadata.json")
                total += infos[name].file_size
    except ArchiveError:
        raise
    except _ZIP_ERRORS as exc:
        raise invalid(path, str(exc) or type(exc).__name__) from exc
    return VerifiedRestorePoint(path, metadata, snapshot, files, directories, total)


def _copy_hashed(source: IO[bytes], target: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: source.read(CHUNK), b""):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def _entries_under(verified: VerifiedRestorePoint, prefix: str) -> Iterator[tuple[str, str, bool]]:
    for name in sorted(verified.directories):
        if name.startswith(prefix):
            yield name, name[len(prefix) :], True
    for name in sorted(verified.files):
        if name.startswith(prefix):
            yield name, name[len(prefix) :], False


def extract_file(verified: VerifiedRestorePoint, member: str, target: Path) -> None:
    """Write one verified member to ``target`` (which must not exist), re-checking its hash."""
    try:
        with zipfile.ZipFile(verified.path) as zf, zf.open(member) as src, open(target, "xb") as dst:
            digest = _copy_hashed(src, dst)
    except _READ_ERRORS as exc:
        raise invalid(verified.path, f"{member!r} could not be read ({exc})") from exc
    if digest != verified.files[member]:
        raise invalid(verified.path, f"member {member!r} changed while it was extracted")


def extract_tree(
    verified: VerifiedRestorePoint, prefix: str, dest: Path, *, keep: Callable[[str], bool] | None = None
) -> int:
    """Extract the members under ``prefix`` (those ``keep`` accepts, by relative path) into the new ``dest``.

    Returns the number of files written; none of them is executable.
    """
    dest.mkdir(parents=True, exist_ok=False)
    root = dest.resolve()
    count = 0
    try:
        with zipfile.ZipFile(verified.path) as zf:
            for member, rel, is_dir in _entries_under(verified, prefix):
                if not rel or (keep is not None and not keep(rel)):
                    continue
                target = (dest / rel).resolve()
                if not target.is_relative_to(root) or target == root:
                    raise ValueError(f"member {member!r} escapes the target directory")
                if is_dir:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                info = zf.getinfo(member)
                with zf.open(info) as src, open(target, "xb") as dst:
                    digest = _copy_hashed(src, dst)
                if digest != verified.files[member]:
                    raise ValueError(f"member {member!r} changed while it was extracted")
                count += 1
    except _READ_ERRORS as exc:
        raise invalid(verified.path, str(exc) or type(exc).__name__) from exc
    return count


__all__ = [
    "FORMAT_VERSION",
    "METADATA_NAME",
    "SNAPSHOT_NAME",
    "STORAGE_PREFIX",
    "VerifiedRestorePoint",
    "check_member_name",
    "extract_file",
    "extract_tree",
    "invalid",
    "read_metadata",
    "verify_restore_point",
]
