"""ui.auth: what ties a sign-in token to the browser it was issued to."""
from __future__ import annotations


def test_browser_key_is_the_same_under_every_mask_of_the_xsrf_cookie():
    """A sign-in token is tied to the secret in Streamlit's XSRF cookie, which is masked afresh on every page load."""
    from ui.auth import browser_key

    secret = bytes(range(16))

    def cookie(mask: bytes) -> str:
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(secret))
        return f"2|{mask.hex()}|{masked.hex()}|1763930000"

    assert browser_key(cookie(b"\x01\x02\x03\x04")) == browser_key(cookie(b"\xff\x00\xaa\x55")) == secret.hex()
    assert browser_key(None) == browser_key("") == browser_key("2|zz|zz|1") == ""
    assert browser_key("plain-v1-token") == "plain-v1-token"
