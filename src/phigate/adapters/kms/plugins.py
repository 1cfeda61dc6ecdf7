"""Where the master key comes from: the local key, or a named KMS plugin.

Plugins come from the :data:`KMS_PLUGINS` registry (``master_key.plugin`` names
one, ``master_key.options`` is passed to its factory); an unknown name is a
start-up :class:`ConfigError`.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from phigate.adapters.kms.master_key import LocalMasterKey, parse_master_key
from phigate.errors import ConfigError
from phigate.ports import KeyEncryptionKey
from phigate.settings import ResolvedSettings

KmsPlugin = Callable[[Mapping[str, str]], KeyEncryptionKey]

_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def file_keyring(options: Mapping[str, str]) -> KeyEncryptionKey:
    """A directory of versioned key files ``v1.key``, ``v2.key``, ...; ``version`` picks the one in use.

    The version is explicit, never "the newest file", so that adding the next key
    file does not switch a restarting node to a key the data keys are not yet
    wrapped by. Key files must be readable by their owner only.
    """
    unknown = sorted(set(options) - {"directory", "version"})
    if unknown:
        raise ConfigError(problems=[f"master_key.options.{k}: not a file-keyring option" for k in unknown])
    directory, version = options.get("directory"), options.get("version", "")
    if not directory:
        raise ConfigError(problems=["master_key.options.directory: is required by file-keyring"])
    if not _VERSION.fullmatch(version):
        raise ConfigError(problems=["master_key.options.version: must be a version number such as '1'"])
    return LocalMasterKey(_read_key_file(Path(directory) / f"v{version}.key"))


def _read_key_file(path: Path) -> bytes:
    where = "master_key.options.directory"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(problems=[f"{where}: key file {path} cannot be read ({exc.strerror})"]) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            problems=[f"{where}: key file {path} is open to other users; restrict it with chmod 600"]
        )
    return parse_master_key(text, where=f"{where} ({path.name})")


KMS_PLUGINS: dict[str, KmsPlugin] = {
    "file-keyring": file_keyring,
}


def master_key_from_settings(
    resolved: ResolvedSettings, plugins: Mapping[str, KmsPlugin] = KMS_PLUGINS
) -> KeyEncryptionKey:
    """The KEK this node is configured with: the local key text, or the named plugin's key."""
    if resolved.master_key is not None:
        return LocalMasterKey.from_text(resolved.master_key.get_secret_value())
    config = resolved.settings.master_key
    assert config.plugin is not None  # settings guarantee exactly one source
    factory = plugins.get(config.plugin)
    if factory is None:
        known = ", ".join(sorted(plugins)) or "none"
        raise ConfigError(
            problems=[f"master_key.plugin: unknown KMS plugin '{config.plugin}' (known: {known})"]
        )
    return factory(config.options)
