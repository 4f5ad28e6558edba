"""SM3/SM4 known answers from the standards, a cross-check against gmssl, and the PII cipher."""

import os

import pytest
from gmssl import func as gm_func
from gmssl import sm3 as gm_sm3
from gmssl import sm4 as gm_sm4

from bot.platform.crypto import (
    DecryptionFailed,
    PiiCipher,
    hmac_sm3,
    parse_keys,
    sm3,
    sm4_ecb_block,
)

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm3_standard_examples():
    # GB/T 32905-2016 appendix A: "abc" and the 512-bit "abcd" x 16
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert (
        sm3(b"abcd" * 16).hex()
        == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_sm4_standard_example():
    # GB/T 32907-2016 appendix A.1: key = plaintext = 0123456789abcdeffedcba9876543210
    assert sm4_ecb_block(SM4_KEY, SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_gmssl_agrees_with_our_module():
    for data in (b"abc", b"", "张三 510821199803124418".encode(), os.urandom(1000)):
        assert gm_sm3.sm3_hash(gm_func.bytes_to_list(data)) == sm3(data).hex()
    gm = (
        gm_sm4.CryptSM4(padding_mode=-1)
        if "padding_mode" in gm_sm4.CryptSM4.__init__.__code__.co_varnames
        else gm_sm4.CryptSM4()
    )
    gm.set_key(SM4_KEY, gm_sm4.SM4_ENCRYPT)
    block = os.urandom(16)
    assert gm.crypt_ecb(block)[:16] == sm4_ecb_block(SM4_KEY, block)


def test_hmac_sm3_matches_the_rfc2104_construction_over_gmssl():
    key, msg = b"k" * 20, b"message"
    ipad = bytes(b ^ 0x36 for b in key.ljust(64, b"\0"))
    opad = bytes(b ^ 0x5C for b in key.ljust(64, b"\0"))
    inner = bytes.fromhex(gm_sm3.sm3_hash(gm_func.bytes_to_list(ipad + msg)))
    expected = gm_sm3.sm3_hash(gm_func.bytes_to_list(opad + inner))
    assert hmac_sm3(key, msg).hex() == expected


def test_pii_cipher_seals_opens_and_detects_tampering():
    cipher = PiiCipher(parse_keys("1:" + "11" * 16), b"index")
    sealed, version = cipher.seal("11010519491231002X", b"id")
    assert version == 1 and b"11010519491231002X" not in sealed
    assert cipher.open(sealed, 1, b"id") == "11010519491231002X"
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        cipher.open(tampered, 1, b"id")
    with pytest.raises(DecryptionFailed):
        cipher.open(sealed, 1, b"phone")  # sealed for another column
    with pytest.raises(DecryptionFailed):
        cipher.open(sealed, 7, b"id")


def test_newest_key_seals_old_keys_still_open_and_the_index_is_stable():
    old = PiiCipher(parse_keys("1:" + "11" * 16), b"index")
    new = PiiCipher(parse_keys("1:" + "11" * 16 + ",2:" + "22" * 16), b"index")
    sealed, _ = old.seal("13800000001", b"phone")
    assert new.open(sealed, 1, b"phone") == "13800000001"
    assert new.seal("x")[1] == 2
    assert old.index("phone", "13800000001") == new.index("phone", "13800000001")
    assert new.open_text(new.seal_text("123456")) == "123456"


def test_bad_key_specs_are_refused():
    for spec in ("", "1:abcd", "x:" + "11" * 16):
        with pytest.raises(ValueError):
            parse_keys(spec)
