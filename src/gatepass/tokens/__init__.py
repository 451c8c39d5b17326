"""The JWT column: strict JWS, claims, access tokens, refresh-token families."""
