#!/usr/bin/env python3
"""Updater key helpers for scripts/release (minisign keys as `tauri signer` writes them).

  normalize-pubkey KEY   print the updater `pubkey` value (base64 of the minisign public
                         key file) for KEY given either that way or as the file's text
  check PUBKEY SIGFILE   exit 1 unless SIGFILE (a `.sig` written by `tauri signer sign`)
                         was made with the private half of PUBKEY (same minisign key id)

A minisign public key line is base64("Ed" + key id (8 bytes) + Ed25519 key); a
signature line is base64("ED" or "Ed" + key id (8 bytes) + signature).
"""
import base64
import sys


def b64(s):
    s = s.strip()
    return base64.b64decode(s + "=" * (-len(s) % 4))


def minisign_text(value):
    """The minisign file text, from its base64 (tauri's format) or the text itself."""
    value = value.strip()
    if "untrusted comment:" in value:
        return value
    return b64(value).decode("utf-8")


def payload(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # The first line not a comment is the key / signature.
    for line in lines:
        if not line.startswith(("untrusted comment:", "trusted comment:")):
            return b64(line)
    raise ValueError("no key or signature line")


def key_id(text):
    data = payload(text)
    if len(data) < 10:
        raise ValueError("too short for a minisign key or signature")
    return data[2:10]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "normalize-pubkey":
        text = minisign_text(sys.argv[2])
        key = payload(text)
        if len(key) != 42 or key[:2] != b"Ed":
            sys.exit("not a minisign public key")
        print(base64.b64encode(text.rstrip("\n").encode() + b"\n").decode())
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        pub = key_id(minisign_text(sys.argv[2]))
        sig = key_id(minisign_text(open(sys.argv[3]).read()))
        if pub != sig:
            sys.exit(f"the signature was made with key {sig[::-1].hex().upper()}, "
                     f"not the public key's {pub[::-1].hex().upper()}: installed apps would refuse it")
        print(f"signature key id {pub[::-1].hex().upper()} matches the public key")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
