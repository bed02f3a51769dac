"""Encryption of every Temporal payload, so names, phone numbers and amounts never reach a
workflow history in plain text.

:class:`EncryptionCodec` is a :class:`temporalio.converter.PayloadCodec`: it serialises each
payload the converter produced (a ``Payload`` protobuf, metadata included), encrypts it with
AES-256-GCM under a fresh 12-byte random nonce and the key id as associated data, and wraps
it in a new payload::

    metadata = {"encoding": b"binary/encrypted", "encryption-key-id": b"<key id>"}
    data     = nonce (12 bytes) + ciphertext (with its 16-byte tag)

Decoding looks the key up by the id in the metadata; payloads that are not
``binary/encrypted`` pass through unchanged, so histories recorded before encryption still
replay.

Key rotation: add a new key to :attr:`CodecSettings.keys` and make it
:attr:`CodecSettings.active_key_id`. New payloads use the new key; old payloads still decode
with the key named in their metadata, so keep retired keys for as long as any history (or
archive) that used them exists.

:func:`data_converter` is the one converter every client and worker must share;
:mod:`overdue.codec_server` lets the Web UI and the ``temporal`` CLI decode payloads for
people holding the codec server's token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from pydantic import BaseModel, SecretStr, model_validator
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadCodec

ENCODING = b"binary/encrypted"
"""``encoding`` metadata of an encrypted payload."""
KEY_ID_METADATA = "encryption-key-id"
"""Metadata naming the key an encrypted payload was encrypted with."""
NONCE_BYTES = 12
KEY_BYTES = 32
_TAG_BYTES = 16

DEV_KEY_ID = "dev-2026-11"
"""Id of the development key. The key itself is public (it is in this file): NOT FOR
PRODUCTION. Production sets its own keys, e.g.
``OVERDUE_CODEC__KEYS='{"prod-2026-11": "<base64 of 32 random bytes>"}'`` and
``OVERDUE_CODEC__ACTIVE_KEY_ID=prod-2026-11`` (make one with :func:`new_key`)."""
_DEV_KEY = "b3ZlcmR1ZS1kZXYtY29kZWMta2V5LU5PVC1TRUNSRVQ="  # b"overdue-dev-codec-key-NOT-SECRET"


class CodecError(ValueError):
    """A payload that cannot be decrypted: unknown key id, tampered or malformed data."""


def new_key() -> str:
    """A fresh random AES-256 key, base64-encoded as :attr:`CodecSettings.keys` expects."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _decode_key(key_id: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"codec key {key_id!r} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"codec key {key_id!r} must decode to exactly {KEY_BYTES} bytes "
                         f"(AES-256), not {len(raw)}")
    return raw


class CodecSettings(BaseModel):
    """Payload encryption keys and the codec server's access settings.

    The defaults are for development only: the dev key and the dev token are public.
    """

    keys: dict[str, SecretStr] = {DEV_KEY_ID: SecretStr(_DEV_KEY)}
    """Key id -> base64 of a 32-byte AES-256 key. Keep retired keys to decode old payloads."""
    active_key_id: str = DEV_KEY_ID
    """The key new payloads are encrypted with."""
    server_token: SecretStr = SecretStr("dev-codec-token")
    """Bearer token the codec server requires on ``/encode`` and ``/decode``."""
    ui_origin: str = "http://localhost:8233"
    """Origin of the Temporal Web UI, the only origin the codec server allows (CORS)."""
    server_requires_token: bool = True
    """Off only for a codec server on loopback behind a UI without sign-in (``make run``):
    such a UI sends no Authorization header."""

    @model_validator(mode="after")
    def _check_keys(self) -> CodecSettings:
        for key_id, value in self.keys.items():
            if not key_id:
                raise ValueError("codec key ids must not be empty")
            _decode_key(key_id, value.get_secret_value())
        if self.active_key_id not in self.keys:
            raise ValueError(f"active codec key id {self.active_key_id!r} is not among the "
                             f"configured keys {sorted(self.keys)}")
        return self

    def key_bytes(self) -> dict[str, bytes]:
        """The keys, decoded."""
        return {key_id: _decode_key(key_id, value.get_secret_value())
                for key_id, value in self.keys.items()}


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM encryption of whole payloads, with the key id in the metadata."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active codec key id {active_key_id!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"codec key {key_id!r} must be {KEY_BYTES} bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active_key_id = active_key_id

    @classmethod
    def from_settings(cls, settings: CodecSettings) -> EncryptionCodec:
        return cls(settings.key_bytes(), settings.active_key_id)

    @property
    def active_key_id(self) -> str:
        return self._active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._active_key_id
        aad = key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), aad)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: aad},
                       data=nonce + ciphertext)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; payloads that are not encrypted are returned as they are."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_key_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_key_id is None:
            raise CodecError(f"encrypted payload has no {KEY_ID_METADATA!r} metadata")
        key_id = raw_key_id.decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload was encrypted with unknown codec key id {key_id!r}; "
                             f"known key ids: {sorted(self._ciphers)}")
        data = payload.data
        if len(data) < NONCE_BYTES + _TAG_BYTES:
            raise CodecError(f"encrypted payload (key id {key_id!r}) is too short")
        try:
            plaintext = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_key_id)
        except InvalidTag:
            raise CodecError(f"encrypted payload (key id {key_id!r}) failed authentication: "
                             "wrong key or tampered data") from None
        original = Payload()
        try:
            original.ParseFromString(plaintext)
        except DecodeError as exc:
            raise CodecError(f"decrypted payload (key id {key_id!r}) is not a Payload") from exc
        return original


class EncryptedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go through the codec too: an activity error could
    quote a name or a number."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def data_converter(settings: CodecSettings | None) -> DataConverter:
    """The pydantic data converter, encrypting payloads when ``settings`` is given."""
    if settings is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter,
                               payload_codec=EncryptionCodec.from_settings(settings),
                               failure_converter_class=EncryptedFailureConverter)
