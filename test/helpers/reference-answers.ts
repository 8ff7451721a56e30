/** Answers of the reference implementation (gRPC's Python cancellation example), shared by every layer's tests. */

/** Find(name, ideal) → the secret (base64) the reference returns. */
export const REFERENCE_FINDS: ReadonlyArray<readonly [name: string, ideal: number, secret: string]> = [
  ["aa", 0, "ZA=="],
  ["Aa", 0, "ZA=="],
  ["doc", 0, "AMA="],
  ["doct", 0, "AA+H"],
  ["grpc", 1, "Gw=="],
  ["x", 0, "AA=="],
  ["a", 0, ""],
];

/**
 * The Find cases the interop tests run through each foreign client (a probe process per case, so only a few):
 * a plain answer, one with ideal 1, and the empty secret.
 */
export const INTEROP_FINDS = REFERENCE_FINDS.filter(([name]) => ["aa", "grpc", "a"].includes(name));

/** FindRange("doctor", ideal 1, interesting 3): how many responses, the first five secrets, and the last one. */
export const REFERENCE_FIND_RANGE = {
  name: "doctor",
  ideal: 1,
  interesting: 3,
  count: 663,
  firstSecrets: ["Eg==", "JA==", "cw==", "5A==", "8w=="],
  last: { secret: "4fE=", distance: 1, index: 57872 },
} as const;
