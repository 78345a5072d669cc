"""Emulated Entra ID: OpenID discovery and the v2.0 token endpoint (client credentials with a
client secret or a certificate-signed client assertion), plus access-token checks for Graph.

Error bodies follow the AADSTS shape msal returns to callers as a dict (see
docs/emulator.md for which codes and statuses are documented and which are believed).
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509

from sp_sync.emulator.tls import CertMaterial

JSON = dict[str, Any]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class TokenError(Exception):
    status: int
    error: str
    code: int
    description: str

    def body(self) -> JSON:
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
                f"Correlation ID: {corr} Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


class Entra:
    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        certs: CertMaterial,
        token_lifetime: int = 3600,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.certs = certs
        self.token_lifetime = token_lifetime
        self.signing_key = uuid.uuid4().hex + uuid.uuid4().hex  # per emulator: foreign tokens fail
        cert = x509.load_pem_x509_certificate(certs.client_cert_pem)
        self.public_key = cert.public_key()
        self.base_url = ""  # "https://127.0.0.1:PORT", set once the port is known
        self._verified: dict[str, JSON] = {}  # access token -> claims (PyJWT decode is slow)

    def _tenant_ok(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id.lower(), "organizations")

    def _unknown_tenant(self, tenant: str) -> TokenError:
        return TokenError(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud.",
        )

    def openid_configuration(self, tenant: str) -> tuple[int, JSON]:
        if not self._tenant_ok(tenant):
            return 400, self._unknown_tenant(tenant).body()
        base = f"{self.base_url}/{self.tenant_id}"
        return 200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, JSON]:
        try:
            return 200, self._token(tenant, form)
        except TokenError as err:
            return err.status, err.body()

    def _token(self, tenant: str, form: dict[str, str]) -> JSON:
        if not self._tenant_ok(tenant):
            raise self._unknown_tenant(tenant)
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
            )
        client_id = form.get("client_id", "")
        if client_id.lower() != self.client_id.lower():
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. "
                "You may have sent your authentication request to the wrong tenant.",
            )
        if "client_assertion" in form:
            self._check_assertion(form, f"{self.base_url}/{tenant}/oauth2/v2.0/token")
        elif "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"], self.client_secret):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    f"request is the client secret value, not the client secret ID, for a secret "
                    f"added to app '{self.client_id}'.",
                )
        else:
            raise TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        resource = self._resource(form.get("scope", ""))
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": self.client_id,
            "azp": self.client_id,
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + self.client_id)),
            "roles": ["Sites.Selected", "Mail.Send"],
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + self.client_id)),
            "tid": self.tenant_id,
            "ver": "1.0",
            "uti": uuid.uuid4().hex[:22],
        }
        token = jwt.encode(claims, self.signing_key, algorithm="HS256")
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }

    @staticmethod
    def _resource(scope: str) -> str:
        for part in scope.split():
            if part.endswith("/.default"):
                return part[: -len("/.default")]
        raise TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )

    def _check_assertion(self, form: dict[str, str], token_url: str) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed (unsupported client_assertion_type).",
            )
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError(
                400, "invalid_request", 50027, "JWT token is invalid or malformed."
            ) from None
        alg = header.get("alg")
        raw = header.get("x5t#S256") if alg == "PS256" else header.get("x5t")
        # msal pads the thumbprint ("…="); compare base64url without padding
        given = str(raw or "").rstrip("=").replace("+", "-").replace("/", "_")
        wanted = self.certs.x5t_s256 if alg == "PS256" else self.certs.x5t
        if alg not in ("RS256", "PS256") or given != wanted:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{given}', Please visit the Azure Portal, Graph Explorer or "
                "directly use MS Graph to see configured keys for app Id "
                f"'{self.client_id}'.]",
            )
        try:
            claims = jwt.decode(
                assertion,
                self.public_key,  # type: ignore[arg-type]
                algorithms=[alg],
                audience=token_url,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenError(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                f"Client assertion audience claim does not match the token endpoint '{token_url}'.",
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenError(
                401, "invalid_client", 700027, f"Client assertion is invalid: {exc}."
            ) from None
        if not (claims.get("iss") == claims.get("sub") == self.client_id):
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "Client assertion iss and sub claims must both be the client id.",
            )

    def check_access_token(self, authorization: str | None, audience: str) -> tuple[JSON, str]:
        """Return (claims, "") or ({}, reason) for Graph's InvalidAuthenticationToken."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return {}, "Access token is empty."
        token = authorization[7:].strip()
        cached = self._verified.get(token)
        if cached is not None:  # signature already checked: only lifetime and audience remain
            if cached["exp"] <= time.time():
                return {}, "Lifetime validation failed, the token is expired."
            if cached["aud"] != audience:
                return {}, "Access token validation failure. Invalid audience."
            return cached, ""
        try:
            claims = jwt.decode(token, self.signing_key, algorithms=["HS256"], audience=audience)
        except jwt.ExpiredSignatureError:
            return {}, "Lifetime validation failed, the token is expired."
        except jwt.InvalidAudienceError:
            return {}, "Access token validation failure. Invalid audience."
        except jwt.PyJWTError:
            return {}, "Access token validation failure. Invalid signature or malformed token."
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = claims
        return claims, ""
