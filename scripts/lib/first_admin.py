#!/usr/bin/env python3
"""Signs in Roster's first admin from a script, meeting the `mfa_enrollment` challenge that
`mfa.required_for_admins` (default on) sets every admin: enrols a TOTP factor with a code computed
here (RFC 6238, as an authenticator app would) and prints the sign-in's access token.

    scripts/lib/first_admin.py URL LOGIN PASSWORD [--password-only]

--password-only then turns `mfa.required_for_admins` off and removes the factor again (with the
password and an unused code), so that later sign-ins take the password alone: bench's `login`
scenario measures those. A Roster from before two-factor sign-in answers tokens at once.
Standard library only; bench/run imports it."""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.error
import urllib.request


def totp(secret, at=None):
    """The 6-digit RFC 6238 code (SHA-1, 30 s steps) of a base32 `secret` at time `at`."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.digest(key, struct.pack(">Q", counter), hashlib.sha1)
    offset = digest[-1] & 0x0F
    return "%06d" % ((int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF) % 1_000_000)


def call(method, url, token=None, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {url}: {e.code} {e.read()[:300]!r}")


def sign_in(base, login, password, password_only=False):
    """The access token of `login`'s sign-in, enrolling a factor if the sign-in asks for one."""
    first = call("POST", base + "/api/v1/auth/login", body={"login": login, "password": password})
    if "access_token" in first:
        return first["access_token"]
    if first.get("challenge") != "mfa_enrollment":
        raise SystemExit(f"sign-in of {login}: challenge {first.get('challenge')!r}, not mfa_enrollment")
    challenge = {"challenge_token": first["challenge_token"]}
    secret = call("POST", base + "/api/v1/auth/challenge/mfa-enrollment", body=challenge)["secret"]
    at = time.time()
    done = call("POST", base + "/api/v1/auth/challenge/mfa-enrollment/confirm", body={**challenge, "code": totp(secret, at)})
    access = done["sign_in"]["access_token"]
    if password_only:
        call("PATCH", base + "/api/v1/settings", access, {"mfa": {"required_for_admins": False}})
        # The step after the confirming one: unused, and within the one step of tolerance.
        call("DELETE", base + "/api/v1/me/mfa/totp", access, {"password": password, "code": totp(secret, at + 30)})
    return access


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--password-only"]
    if len(args) != 3:
        raise SystemExit(__doc__)
    print(sign_in(*args, password_only="--password-only" in sys.argv))
