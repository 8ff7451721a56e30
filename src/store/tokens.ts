/**
 * Bearer tokens: 32 random bytes, base64url. Tokens are high-entropy, so a plain SHA-256 is a sufficient
 * stored form (no salt or slow hash needed: there is nothing to guess), and lookups can go by the hash.
 */
import { createHash, randomBytes } from "node:crypto";

/**
 * A new token. Never one that starts with "-": one in 64 did, and `cancelkit … --token TOKEN` then read it as an
 * option ("Option '--token' argument is ambiguous"). Drawing again costs under a bit of the 256.
 */
export function newToken(): string {
  for (;;) {
    const token = randomBytes(32).toString("base64url");
    if (!token.startsWith("-")) return token;
  }
}

/** The only form in which a token is stored. */
export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}
