"""Token checks: what is accepted, what is refused and why, and the cache of good tokens."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from pyservices import cli
from pyservices.common.auth import (
    AuthFailed,
    AuthSettings,
    AuthUnavailable,
    TokenVerifier,
    bearer_token,
    mint,
    verifier,
)

SECRET = "a-local-secret-of-at-least-32-bytes!"
NOW = 1_800_000_000.0


def hs_verifier(**settings: Any) -> TokenVerifier:
    return TokenVerifier(AuthSettings(auth_jwt_secret=SECRET, **settings), clock=lambda: NOW)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def refused(verifying: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthFailed) as refusal:
        await verifying.verify(token)
    assert SECRET not in str(refusal.value)
    return str(refusal.value)


class TestSettings:
    def test_open_mode_without_a_secret_or_jwks(self) -> None:
        assert not AuthSettings().enabled
        assert verifier(AuthSettings()) is None

    def test_a_jwks_needs_its_issuer_and_audience(self) -> None:
        with pytest.raises(ValueError, match="AUTH_ISSUER and AUTH_AUDIENCE"):
            AuthSettings(auth_jwks_url="https://id.example/jwks")

    def test_a_secret_and_a_jwks_at_once_are_refused(self) -> None:
        with pytest.raises(ValueError, match="not both"):
            AuthSettings(auth_jwt_secret=SECRET, auth_jwks_url="https://x", auth_issuer="i")

    def test_a_short_secret_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 32 bytes"):
            AuthSettings(auth_jwt_secret="short")

    def test_the_secret_never_shows_in_the_settings(self) -> None:
        assert SECRET not in repr(AuthSettings(auth_jwt_secret=SECRET))


class TestHs256:
    async def test_a_good_token_names_its_subject(self) -> None:
        caller = await hs_verifier().verify(mint(SECRET, "alice", now=NOW))
        assert caller.sub == "alice"

    async def test_an_expired_token_is_refused_as_expired(self) -> None:
        token = mint(SECRET, "alice", expires_in=60, now=NOW - 3600)
        assert await refused(hs_verifier(), token) == "the token has expired"

    async def test_a_forged_signature_is_refused(self) -> None:
        token = mint("another-secret-of-at-least-32-bytes", "alice", now=NOW)
        assert await refused(hs_verifier(), token) == "the token's signature is invalid"

    async def test_a_tampered_payload_is_refused(self) -> None:
        header, _, signature = mint(SECRET, "alice", now=NOW).split(".")
        payload = b64(json.dumps({"sub": "bob", "exp": int(NOW + 60)}).encode())
        assert "signature" in await refused(hs_verifier(), f"{header}.{payload}.{signature}")

    async def test_alg_none_is_refused(self) -> None:
        header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = b64(json.dumps({"sub": "alice", "exp": int(NOW + 60)}).encode())
        assert "algorithm" in await refused(hs_verifier(), f"{header}.{payload}.")

    async def test_the_wrong_audience_is_refused(self) -> None:
        token = mint(SECRET, "alice", audience="other", now=NOW)
        message = await refused(hs_verifier(auth_audience="binconv"), token)
        assert message == "the token's audience is not accepted"

    async def test_the_wrong_issuer_is_refused(self) -> None:
        token = mint(SECRET, "alice", issuer="https://evil.example", now=NOW)
        message = await refused(hs_verifier(auth_issuer="https://id.example"), token)
        assert message == "the token's issuer is not accepted"

    async def test_the_right_audience_and_issuer_pass(self) -> None:
        token = mint(SECRET, "alice", audience="binconv", issuer="https://id", now=NOW)
        verifying = hs_verifier(auth_audience="binconv", auth_issuer="https://id")
        assert (await verifying.verify(token)).sub == "alice"

    async def test_a_token_without_sub_or_exp_is_refused(self) -> None:
        no_sub = jwt.encode({"exp": int(NOW + 60)}, SECRET, algorithm="HS256")
        no_exp = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
        assert "required claim" in await refused(hs_verifier(), no_sub)
        assert "required claim" in await refused(hs_verifier(), no_exp)

    async def test_garbage_and_nothing_are_refused(self) -> None:
        assert await refused(hs_verifier(), "not.a.token") == "the token is malformed"
        assert "Authorization: Bearer" in await refused(hs_verifier(), "")

    async def test_another_hmac_algorithm_is_refused(self) -> None:
        token = jwt.encode({"sub": "a", "exp": int(NOW + 60)}, SECRET * 2, algorithm="HS512")
        assert "algorithm" in await refused(hs_verifier(), token)


class TestCache:
    async def test_a_verified_token_is_not_checked_again_until_it_expires(self) -> None:
        now = [NOW]
        verifying = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET), clock=lambda: now[0])
        token = mint(SECRET, "alice", expires_in=60, now=NOW)
        first = await verifying.verify(token)

        assert await verifying.verify(token) is first  # the cached caller
        now[0] = NOW + 3600
        with pytest.raises(AuthFailed, match="expired"):
            await verifying.verify(token)

    async def test_a_refused_token_is_not_remembered(self) -> None:
        verifying = hs_verifier()
        forged = mint("another-secret-of-at-least-32-bytes", "alice", now=NOW)
        for _ in range(2):
            await refused(verifying, forged)


class TestJwks:
    """RS256 and ES256 keys published as a JWKS by a local HTTP server standing in for
    the provider's endpoint."""

    @pytest.fixture
    def keys(self) -> Iterator[tuple[Any, Any, str]]:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        published = [
            {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r1", "use": "sig"},
            {**json.loads(ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "e1", "use": "sig"},
        ]
        body = json.dumps({"keys": published}).encode()

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield rsa_key, ec_key, f"http://127.0.0.1:{server.server_address[1]}/jwks"
        server.shutdown()
        server.server_close()

    def jwks_verifier(self, url: str, audience: str = "binconv") -> TokenVerifier:
        return TokenVerifier(
            AuthSettings(auth_jwks_url=url, auth_issuer="https://id", auth_audience=audience)
        )

    @staticmethod
    def claims(**extra: Any) -> dict[str, Any]:
        now = time.time()
        return {"sub": "alice", "iss": "https://id", "aud": "binconv", "exp": now + 60, **extra}

    async def test_rs256_and_es256_tokens_of_published_keys_pass(
        self, keys: tuple[Any, Any, str]
    ) -> None:
        rsa_key, ec_key, url = keys
        verifying = self.jwks_verifier(url)
        rs = jwt.encode(self.claims(), rsa_key, algorithm="RS256", headers={"kid": "r1"})
        es = jwt.encode(self.claims(sub="bob"), ec_key, algorithm="ES256", headers={"kid": "e1"})

        assert (await verifying.verify(rs)).sub == "alice"
        assert (await verifying.verify(es)).sub == "bob"

    async def test_a_key_the_provider_does_not_publish_is_refused(
        self, keys: tuple[Any, Any, str]
    ) -> None:
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(self.claims(), stranger, algorithm="RS256", headers={"kid": "r1"})
        assert "signature" in await refused(self.jwks_verifier(keys[2]), token)
        unknown = jwt.encode(self.claims(), stranger, algorithm="RS256", headers={"kid": "zz"})
        assert "key the provider does not publish" in await refused(
            self.jwks_verifier(keys[2]), unknown
        )

    async def test_hs256_signed_with_the_public_key_and_alg_none_are_refused(
        self, keys: tuple[Any, Any, str]
    ) -> None:
        verifying = self.jwks_verifier(keys[2])
        header = b64(json.dumps({"alg": "none", "kid": "r1"}).encode())
        payload = b64(json.dumps(self.claims()).encode())
        hs = jwt.encode(self.claims(), SECRET, algorithm="HS256", headers={"kid": "r1"})

        assert "algorithm" in await refused(verifying, f"{header}.{payload}.")
        assert "algorithm" in await refused(verifying, hs)

    async def test_the_wrong_audience_is_refused(self, keys: tuple[Any, Any, str]) -> None:
        token = jwt.encode(self.claims(), keys[0], algorithm="RS256", headers={"kid": "r1"})
        assert "audience" in await refused(self.jwks_verifier(keys[2], "other"), token)


class TestJwksUnreachable:
    async def test_keys_that_cannot_be_fetched_are_unavailable_not_a_refusal(self) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks"
        verifying = TokenVerifier(
            AuthSettings(auth_jwks_url=url, auth_issuer="https://id", auth_audience="binconv")
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(TestJwks.claims(), key, algorithm="RS256", headers={"kid": "r1"})

        with pytest.raises(AuthUnavailable):
            await verifying.verify(token)


class TestBearerHeader:
    def test_the_token_of_a_bearer_header(self) -> None:
        assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
        assert bearer_token("bearer  abc ") == "abc"

    @pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
    def test_anything_else_is_refused(self, header: str | None) -> None:
        with pytest.raises(AuthFailed):
            bearer_token(header)


class TestTokenCommand:
    def test_mints_a_token_the_gateway_accepts(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
        monkeypatch.setenv("AUTH_AUDIENCE", "binconv")

        assert cli.main(["token", "--sub", "alice", "--expires-in", "120"]) == 0

        token = capsys.readouterr().out.strip()
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="binconv")
        assert claims["sub"] == "alice"
        assert 110 <= claims["exp"] - time.time() <= 120

    def test_without_a_secret_it_says_what_to_set(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
        monkeypatch.delenv("AUTH_JWKS_URL", raising=False)

        assert cli.main(["token", "--sub", "alice"]) == 2
        assert "AUTH_JWT_SECRET" in capsys.readouterr().err


class TestCost:
    """The micro-measure behind "token checks cached per token": printed with -s."""

    async def test_a_cached_check_costs_a_fraction_of_a_full_one(self) -> None:
        verifying = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET))
        tokens = [mint(SECRET, f"user{i}") for i in range(2000)]
        started = time.perf_counter()
        for token in tokens:
            await verifying.verify(token)
        uncached = (time.perf_counter() - started) / len(tokens)
        started = time.perf_counter()
        for token in tokens:
            await verifying.verify(token)
        cached = (time.perf_counter() - started) / len(tokens)

        print(f"HS256 verify: {uncached * 1e6:.1f} µs uncached, {cached * 1e6:.2f} µs cached")
        assert cached < uncached / 3
