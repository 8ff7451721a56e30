/**
 * Bearer tokens: 32 random bytes, base64url. Tokens are high-entropy, so a plain SHA-256 is a sufficient
 * stored form (no salt or slow hash needed: there is nothing to guess), and lookups can go by the hash.
 */
import { createHash, randomBytes } from "node:crypto";

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** The only form in which a token is stored. */
export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}
