"""The PIN or passphrase: from an environment variable, or from a file only its owner can read.

Kept apart from the key loading so there is exactly one place that touches the
secret's text. The value is returned to the caller and never stored, logged or
put into an exception message; errors name only the variable or the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from pipeline.errors import SignerSetupError

PASSPHRASE_ENV = "SOHOA_SIGN_PASSPHRASE"
PIN_ENV = "SOHOA_SIGN_PKCS11_PIN"


def read_secret_file(path: Path) -> str:
    """The file's text without its final newline; refused unless private to this user.

    A group- or world-readable file is refused rather than used: a PIN that other
    accounts on the machine can read is a PIN that is already lost.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise SignerSetupError(f"secret file {path} does not exist") from None
    except OSError as exc:
        raise SignerSetupError(
            f"secret file {path} cannot be opened ({exc.strerror}; symlinks are not followed)"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SignerSetupError(f"secret file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise SignerSetupError(
                f"secret file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o});"
                f" run: chmod 600 {path}"
            )
        if info.st_uid != os.geteuid():
            raise SignerSetupError(
                f"secret file {path} belongs to another user (uid {info.st_uid}); "
                "it must be owned by the service user"
            )
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(4096)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SignerSetupError(f"secret file {path} is not UTF-8 text") from None
    if text.endswith("\n"):
        text = text[:-1].removesuffix("\r")
    if not text:
        raise SignerSetupError(f"secret file {path} is empty")
    return text


def secret(env: Mapping[str, str], var: str, file: Path | None, what: str) -> str:
    """The secret from ``var`` in ``env`` or else from ``file``; a clear error when neither."""
    value = env.get(var)
    if value:
        return value
    if file is not None:
        return read_secret_file(Path(file))
    raise SignerSetupError(f"no {what}: set {var} or {var}_FILE (a file with mode 600)")
