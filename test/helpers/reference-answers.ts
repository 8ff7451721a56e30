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
 * Find(name, ideal) for names outside ASCII → the reference's secret. The reference lower-cases the whole name, then
 * compares as many characters as the name had: the Kelvin sign becomes "k", and "İ" becomes "i" and a combining
 * dot, which moves the rest of the name one place on.
 */
export const REFERENCE_FINDS_NON_ASCII: ReadonlyArray<
  readonly [name: string, ideal: number, secret: string]
> = [
  ["\u212a", 0, ""],
  ["\u0130", 0, "AA=="],
  ["\u0130ab", 1, "Nw=="],
  ["K\u0130a", 1, "Og=="],
  ["a\u00e9b", 1, "Dw=="], // "é" matches nothing
];

/**
 * The Find cases the interop tests run through each foreign client (a probe process per case, so only a few):
 * a plain answer, one with ideal 1, and the empty secret.
 */
export const INTEROP_FINDS = REFERENCE_FINDS.filter(([name]) => ["aa", "grpc", "a"].includes(name));

/**
 * FindRange("doctor", ideal 1, interesting 3): how many responses, the first five secrets, and the last one. These
 * are the reference's first 663 responses; the 663rd is the first ideal one, where we end the stream. The reference
 * goes on (with interesting ≥ ideal every ideal hit is interesting too, and an interesting hit never ends it).
 */
export const REFERENCE_FIND_RANGE = {
  name: "doctor",
  ideal: 1,
  interesting: 3,
  count: 663,
  firstSecrets: ["Eg==", "JA==", "cw==", "5A==", "8w=="],
  last: { secret: "4fE=", distance: 1, index: 57872 },
} as const;

/**
 * FindRange with interesting < ideal, where the reference's stream ends: every hit within interesting, then the
 * first hit within ideal that is not (secret, distance), the whole stream.
 */
export const REFERENCE_FIND_RANGES_ENDING: ReadonlyArray<{
  name: string;
  ideal: number;
  interesting: number;
  responses: ReadonlyArray<readonly [secret: string, distance: number]>;
}> = [
  {
    name: "aa",
    ideal: 2,
    interesting: 1,
    responses: [
      ["", 1],
      ["AA==", 2],
    ],
  },
  {
    name: "a",
    ideal: 1,
    interesting: 0,
    responses: [
      ["", 0],
      ["AA==", 1],
    ],
  },
  { name: "doc", ideal: 1, interesting: 0, responses: [["CA==", 1]] },
];
