"""WeCom callback crypto (spec §6.2): signature, AES-256-CBC with PKCS#7/32, receiveid check.

Plaintext layout: ``random(16) ‖ len(msg) as 4 bytes big-endian ‖ msg ‖ receiveid``; the key is
``base64(EncodingAESKey + "=")`` (32 bytes) and the IV its first 16 bytes. ``msg_signature`` is the
SHA-1 hex digest of the sorted, concatenated ``token``, ``timestamp``, ``nonce`` and ``Encrypt``.
Errors carry the local codes of Tencent's reference library (-40001 signature … -40010 base64).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
import struct
from collections.abc import Callable
from xml.etree.ElementTree import Element, ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException, ElementTree
from pydantic import SecretStr

from siyu.channels.wecom.errors import CallbackRejected

SIGNATURE_MISMATCH = -40001
XML_PARSE = -40002
BAD_AES_KEY = -40004
RECEIVE_ID_MISMATCH = -40005
DECRYPT_FAILED = -40007
ILLEGAL_BUFFER = -40008
BASE64_DECODE = -40010

BLOCK = 32
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_ALPHABET = string.ascii_letters + string.digits


def random_ascii16() -> bytes:
    """Return 16 random ASCII letters and digits (what the reference libraries use)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16)).encode()


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Return the 32-byte AES key of a 43-character EncodingAESKey."""
    if not _AES_KEY.fullmatch(encoding_aes_key):
        raise CallbackRejected(BAD_AES_KEY, "EncodingAESKey must be 43 letters and digits")
    return base64.b64decode(encoding_aes_key + "=")


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return ``msg_signature``: SHA-1 hex of the four values sorted and concatenated."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def pkcs7_pad(data: bytes) -> bytes:
    """Pad to a multiple of 32 bytes with 1..32 copies of the pad length."""
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes) -> bytes:
    """Remove PKCS#7/32 padding, rejecting anything malformed."""
    if not data or len(data) % BLOCK:
        raise CallbackRejected(ILLEGAL_BUFFER, "ciphertext is not a multiple of 32 bytes")
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CallbackRejected(ILLEGAL_BUFFER, "invalid PKCS#7 padding")
    return data[:-n]


def xml_field(root: Element, name: str) -> str | None:
    """Return the text of a direct child element, or None."""
    node = root.find(name)
    return None if node is None else (node.text or "")


def parse_xml(body: bytes | str) -> Element:
    """Parse untrusted XML (entities and DTDs refused)."""
    try:
        return ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise CallbackRejected(XML_PARSE, f"callback body is not valid XML ({exc})") from exc


class WeComCrypto:
    """Encrypt, decrypt and sign callback messages for one (Token, EncodingAESKey, receiveid).

    ``random_source`` returns the 16 random bytes that prefix each plaintext; inject a fixed one
    to reproduce the spec's deterministic vectors.
    """

    def __init__(
        self,
        token: str | SecretStr,
        encoding_aes_key: str | SecretStr,
        receive_id: str,
        *,
        random_source: Callable[[], bytes] = random_ascii16,
    ) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        raw_key = (
            encoding_aes_key.get_secret_value()
            if isinstance(encoding_aes_key, SecretStr)
            else encoding_aes_key
        )
        self._key = decode_aes_key(raw_key)
        self.receive_id = receive_id
        self._random = random_source

    def __repr__(self) -> str:
        return f"WeComCrypto(receive_id={self.receive_id!r}, token=***, aes_key=***)"

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self._token.get_secret_value(), timestamp, nonce, encrypt)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise ``CallbackRejected`` (-40001) unless the signature matches, in constant time."""
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise CallbackRejected(SIGNATURE_MISMATCH, "msg_signature does not match")

    def encrypt(self, msg: bytes | str) -> str:
        """Return base64 ``Encrypt`` for a plaintext message."""
        body = msg.encode() if isinstance(msg, str) else msg
        random = self._random()
        if len(random) != 16:
            raise ValueError("random_source must return exactly 16 bytes")
        plain = random + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        encryptor = self._cipher().encryptor()
        cipher = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(cipher).decode()

    def decrypt(self, encrypt: str) -> bytes:
        """Return the message inside ``Encrypt``; reject bad base64, padding or receiveid."""
        try:
            cipher = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected(BASE64_DECODE, "Encrypt is not valid base64") from exc
        if not cipher or len(cipher) % 16:
            raise CallbackRejected(DECRYPT_FAILED, "ciphertext length is not a multiple of 16")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(cipher) + decryptor.finalize())
        if len(plain) < 20:
            raise CallbackRejected(ILLEGAL_BUFFER, "plaintext shorter than its header")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CallbackRejected(ILLEGAL_BUFFER, "message length exceeds the plaintext")
        msg, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CallbackRejected(RECEIVE_ID_MISMATCH, "receiveid does not match the corp id")
        return msg

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """Check and decrypt the URL-verification ``echostr``; return the bare plaintext."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr).decode()

    def decrypt_message(
        self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str
    ) -> bytes:
        """Check and decrypt an event POST body ``<xml>…<Encrypt>…</Encrypt></xml>``."""
        encrypt = xml_field(parse_xml(body), "Encrypt")
        if not encrypt:
            raise CallbackRejected(XML_PARSE, "callback body has no Encrypt element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_message(self, msg: bytes | str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """Return ``(Encrypt, msg_signature)`` for a message."""
        encrypt = self.encrypt(msg)
        return encrypt, self.sign(timestamp, nonce, encrypt)
