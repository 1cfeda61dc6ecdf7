"""The ciphertext format and the local master key's wrapping."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from phigate.adapters.kms import LocalMasterKey, envelope, generate_master_key, parse_master_key
from phigate.errors import ConfigError, KeyStoreError

DEK = AESGCM(bytes(range(32)))
DEK_ID = "00112233445566778899aabbccddeeff"


def test_format_is_version_key_id_nonce_then_ciphertext() -> None:
    blob = envelope.seal(DEK, DEK_ID, b"hello", b"ctx")
    assert blob[0] == envelope.VERSION
    assert blob[1:17].hex() == DEK_ID
    assert len(blob) == 1 + 16 + 12 + len(b"hello") + 16
    sealed = envelope.parse(blob)
    assert sealed.data_key_id == DEK_ID
    assert envelope.open_sealed(DEK, sealed, b"ctx") == b"hello"


@given(plaintext=st.binary(max_size=512), context=st.binary(max_size=64))
def test_round_trip_and_context_binding(plaintext: bytes, context: bytes) -> None:
    blob = envelope.seal(DEK, DEK_ID, plaintext, context)
    assert envelope.open_sealed(DEK, envelope.parse(blob), context) == plaintext
    with pytest.raises(KeyStoreError):
        envelope.open_sealed(DEK, envelope.parse(blob), context + b"!")


def test_two_seals_of_one_value_differ() -> None:
    assert envelope.seal(DEK, DEK_ID, b"same", b"c") != envelope.seal(DEK, DEK_ID, b"same", b"c")


def test_changing_the_key_id_in_the_header_breaks_the_tag() -> None:
    blob = bytearray(envelope.seal(DEK, DEK_ID, b"hello", b"ctx"))
    blob[16] ^= 0xFF
    with pytest.raises(KeyStoreError, match="integrity check"):
        envelope.open_sealed(DEK, envelope.parse(bytes(blob)), b"ctx")


@pytest.mark.parametrize("blob", [b"", b"\x01" * 44, b"\x02" + b"\x00" * 60])
def test_short_or_unknown_version_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(KeyStoreError):
        envelope.parse(blob)


# --- master key text ----------------------------------------------------------------------------------


def test_generated_master_keys_are_32_random_bytes_in_base64() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second


@pytest.mark.parametrize(
    "encode",
    [
        lambda k: base64.b64encode(k).decode(),
        lambda k: base64.urlsafe_b64encode(k).decode(),
        lambda k: k.hex(),
        lambda k: k.hex().upper(),
        lambda k: "  " + base64.b64encode(k).decode() + "\n",
    ],
)
def test_master_key_text_in_base64_or_hex(encode: object) -> None:
    key = bytes(range(100, 132))
    assert callable(encode)
    assert parse_master_key(encode(key)) == key


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        (base64.b64encode(b"k" * 16).decode(), "is 16 bytes, it must be exactly 32"),
        ("ab" * 33, "is 33 bytes"),
        ("not a key at all, just a passphrase!", "neither base64 nor hex"),
    ],
)
def test_bad_master_key_text_is_a_config_error_that_hides_the_text(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_master_key(text, where="master_key")
    message = caught.value.message
    assert message.startswith("master_key: ")
    assert reason in message
    assert "phigate keys new-master-key" in message
    if text:
        assert text not in message


# --- wrapping -----------------------------------------------------------------------------------------


def test_kek_id_is_a_stable_fingerprint_that_does_not_reveal_the_key() -> None:
    text = generate_master_key()
    key = LocalMasterKey.from_text(text)
    assert key.key_id == LocalMasterKey(parse_master_key(text)).key_id
    assert key.key_id.startswith("kek-")
    assert key.key_id != LocalMasterKey.from_text(generate_master_key()).key_id
    assert parse_master_key(text).hex()[:16] not in key.key_id
    assert text not in repr(key)


def test_a_wrap_opens_only_with_its_key_and_its_context() -> None:
    kek = LocalMasterKey.from_text(generate_master_key())
    other = LocalMasterKey.from_text(generate_master_key())
    dek = AESGCM.generate_key(bit_length=256)
    wrapped = kek.wrap(dek, b"data-key:1")
    assert dek not in wrapped
    assert kek.unwrap(wrapped, b"data-key:1") == dek
    with pytest.raises(KeyStoreError):
        kek.unwrap(wrapped, b"data-key:2")
    with pytest.raises(KeyStoreError):
        other.unwrap(wrapped, b"data-key:1")
    with pytest.raises(KeyStoreError, match="damaged"):
        kek.unwrap(wrapped[:10], b"data-key:1")
