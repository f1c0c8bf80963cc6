// Reads the invite from the URL fragment (`/join#token=JWT`). The fragment never reaches the
// server's logs; the token goes to the server only inside the WebSocket `join` command.
// The payload is decoded for the greeting only: the server verifies the signature.

/** The raw token from `location.hash`, or null. */
export function tokenFromLocation(loc = location) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ''));
  const token = params.get('token');
  return token && token.trim() ? token.trim() : null;
}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/**
 * The JWT's claims ({sub, name, room, role, iat, exp, jti}) without verification,
 * or null when the token is not a readable JWT.
 */
export function decodeClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]));
    if (!claims || typeof claims !== 'object' || typeof claims.name !== 'string') return null;
    return claims;
  } catch {
    return null;
  }
}

/** Whether the claims' `exp` (seconds) lies in the past. */
export function isExpired(claims, nowMs = Date.now()) {
  return typeof claims.exp === 'number' && claims.exp * 1000 < nowMs;
}
