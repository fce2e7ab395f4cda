"""Ansible Vault, format 1.1 / 1.2 (AES256), read as ansible-vault writes it.

    $ANSIBLE_VAULT;1.1;AES256            (1.2 adds ;<vault id>)
    <hex of: hex(salt) \\n hex(hmac) \\n hex(ciphertext)>

Keys: PBKDF2-HMAC-SHA256 of the password and salt, 10,000 rounds, 80 bytes: the AES-256
key, the HMAC-SHA256 key and the CTR nonce. The HMAC of the ciphertext is checked
(constant time) before anything is decrypted; the plaintext carries PKCS#7 padding.
The cryptography package is asyncssh's own dependency: nothing new to install.
"""

from __future__ import annotations

import binascii
import contextvars
import hmac
from hashlib import sha256

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from onion.core.i18n import _

HEADER = "$ANSIBLE_VAULT"
# The vault password of the inventory being loaded (inventory.loader sets it for the
# duration of one load), so the readers deep in the Ansible code need no extra argument.
PASSWORD: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("vault_password",
                                                                        default=None)


class VaultError(ValueError):
    pass


def is_vault(text: str) -> bool:
    return text.lstrip().startswith(HEADER)


def decrypt(text: str, password: bytes) -> str:
    lines = text.strip().splitlines()
    head = lines[0].strip().split(";")
    if len(head) < 3 or head[0] != HEADER or head[2].strip() != "AES256":
        raise VaultError(_("not a vault this Onion reads (header {header})").format(
            header=repr(lines[0].strip())))
    try:
        body = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, cipher_hex = body.split(b"\n", 2)
        salt, mac = binascii.unhexlify(salt_hex), binascii.unhexlify(mac_hex)
        ciphertext = binascii.unhexlify(cipher_hex.strip())
    except (ValueError, binascii.Error) as exc:
        raise VaultError(_("damaged vault data: {error}").format(error=exc)) from None
    material = PBKDF2HMAC(algorithm=SHA256(), length=80, salt=salt,
                          iterations=10000).derive(password)
    key, mac_key, nonce = material[:32], material[32:64], material[64:]
    if not hmac.compare_digest(hmac.new(mac_key, ciphertext, sha256).digest(), mac):
        raise VaultError(_("wrong vault password (the HMAC does not match)"))
    dec = Cipher(algorithms.AES(key), modes.CTR(nonce)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise VaultError(_("damaged vault data: {error}").format(error=exc)) from None
    return plain.decode("utf-8")
