/**
 * Source of the WebAssembly engine: generates the WebAssembly text of `firstHit` (see run-scanner.ts), which hashes
 * consecutive candidates four at a time in the i32 lanes of SIMD128 vectors — two vectors per step, their rounds
 * interleaved so the core always has independent work (measured: 1 vector 11.8, 2 vectors 16.0, 3 vectors 13.5
 * M candidates/s; with the split schedule below, 2 vectors 19.9–20.8 and 3 vectors 15.9–16.2) — and measures
 * their distance without leaving the lanes. build.ts assembles the text.
 *
 * Why generated: the 80 SHA-1 rounds are unrolled, and the message schedule is split at generation time into a
 * part computed once per run and the rotations of the one varying byte (varyingRotations, below), with one scan
 * function per word that byte can be in: a step's schedule costs about half the vector operations it did when
 * each word was computed in full (17.6–18.0 → 18.3–20.3 M candidates/s in alternating runs, 2026-12-02).
 *
 * Distance, bit-parallel over windows: the 27 six-bit digest values are transposed into six bit planes X_b (bit
 * 31 − j of X_b = bit b of value j). For a target position i, the hash positions holding a matching value are
 * AND_b (X_b XOR S_b) for each allowed value (S_b = 0 or ~0, from the tables), or-ed, masked; shifted left by i,
 * bit 31 − s says "window s matches at position i". Counters of mismatches per window are kept bit-sliced as
 * levels L_k = "at least k mismatches", k = 1..K with K = report + 1; a window is within the report while L_K is
 * clear. The scan of target positions stops as soon as no window of any lane is alive.
 *
 * Memory layout (one page), shared with wasm-scanner.ts:
 *   0..19      digest words h0..h4 of the hit returned
 *   64..255    scratch: the digest vectors and the lane hit masks of the hitting step (see reportHit)
 *   1024..     per target position i, at 1024 + 224·i: S_0..S_5 of its first value, S_0..S_5 of its second value,
 *              the mask of digest positions it may match, the extra bit for the final '=' (14 splat vectors)
 *   8192..     levels L_k at 8192 + 16·k
 */

export const POSITION_TABLE_OFFSET = 1024;
export const POSITION_TABLE_STRIDE = 224;
export const LEVELS_OFFSET = 8192;

const IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
const ROUND_CONSTANTS = [0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6];

/** Vectors of four candidates hashed per step, their rounds interleaved (independent dependency chains). */
const GROUPS = 2;

function hex(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, "0")}`;
}

function splat(value: number): string {
  const lane = hex(value);
  return `v128.const i32x4 ${lane} ${lane} ${lane} ${lane}`;
}

function rotl(local: string, n: number): string[] {
  return [
    `local.get ${local}`,
    `i32.const ${n}`,
    "i32x4.shl",
    `local.get ${local}`,
    `i32.const ${32 - n}`,
    "i32x4.shr_u",
    "v128.or",
  ];
}

/**
 * The message schedule, split. Within a run only one byte of one word varies (word `vary`, 0 or 1: see
 * run-scanner.ts), so the block is a constant part (the run's words with that byte zeroed, W15) XOR D, the
 * varying byte in place. The schedule is linear over XOR and rotation, so every schedule word is too:
 * W_t = K_t XOR (XOR over r in R_t of rotl(D, r)). K_t is computed once per run ($k<t>, from the run's words),
 * R_t at generation time; a step computes only the rotations of D, each once, and K_t ⊕ them (Steube's
 * observation for password crackers that vary one word). Returns R_t for t = 0..79.
 */
function varyingRotations(vary: number): Array<Set<number>> {
  const sets: Array<Set<number>> = [];
  for (let t = 0; t < 16; t++) sets.push(new Set(t === vary ? [0] : []));
  for (let t = 16; t < 80; t++) {
    const sum = new Set<number>();
    for (const s of scheduleTerms(t)) {
      for (const r of sets[s]!) if (!sum.delete(r)) sum.add(r);
    }
    sets.push(new Set([...sum].map((r) => (r + 1) % 32)));
  }
  return sets;
}

/** The earlier words schedule word t (≥ 16) is the rotated XOR of. */
function scheduleTerms(t: number): number[] {
  return [t - 3, t - 8, t - 14, t - 16];
}

/** Which schedule words have a constant part that is not zero for every run: W0, W1, W15 and what they feed. */
function constantParts(): boolean[] {
  const nonZero: boolean[] = [];
  for (let t = 0; t < 16; t++) nonZero.push(t === 0 || t === 1 || t === 15);
  for (let t = 16; t < 80; t++) nonZero.push(scheduleTerms(t).some((s) => nonZero[s]));
  return nonZero;
}

const CONSTANT_PART = constantParts();

/** The local holding the constant part of schedule word t: the run's words for W0, W1, W15, else $k<t>. */
function constantPart(t: number): string {
  return t === 0 ? "$W0" : t === 1 ? "$W1" : t === 15 ? "$m15" : `$k${t}`;
}

/** Whether word t has a constant part and no varying one, so runConstants adds it to its round constant ($kk<t>). */
function foldedIntoRoundConstant(t: number, rotations: Array<Set<number>>): boolean {
  return CONSTANT_PART[t]! && rotations[t]!.size === 0;
}

/**
 * Once per run: the constant parts $k<t> of the schedule words (from $W0, $W1 with the varying byte zeroed, and
 * $m15), and where a round adds a word with no varying part, that word plus the round constant ($kk<t>).
 */
function runConstants(rotations: Array<Set<number>>): string[] {
  const code: string[] = [];
  for (let t = 16; t < 80; t++) {
    if (!CONSTANT_PART[t]) continue;
    const terms = scheduleTerms(t).filter((s) => CONSTANT_PART[s]);
    code.push(`local.get ${constantPart(terms[0]!)}`);
    for (const s of terms.slice(1)) code.push(`local.get ${constantPart(s)}`, "v128.xor");
    code.push(`local.tee $k${t}`, `local.get $k${t}`, "i32x4.add");
    code.push(`local.get $k${t}`, "i32.const 31", "i32x4.shr_u", "v128.or", `local.set $k${t}`);
  }
  for (let t = 0; t < 80; t++) {
    if (!foldedIntoRoundConstant(t, rotations)) continue;
    code.push(
      `local.get ${constantPart(t)}`,
      splat(ROUND_CONSTANTS[Math.floor(t / 20)]!),
      "i32x4.add",
      `local.set $kk${t}`,
    );
  }
  return code;
}

/** Names of the constant-part locals runConstants sets. */
function runConstantLocals(rotations: Array<Set<number>>): string[] {
  const locals: string[] = [];
  for (let t = 16; t < 80; t++) if (CONSTANT_PART[t]) locals.push(`$k${t}`);
  for (let t = 0; t < 80; t++) if (foldedIntoRoundConstant(t, rotations)) locals.push(`$kk${t}`);
  return locals;
}

/**
 * The 80 unrolled rounds of lane group `g`, as 82 chunks (set-up, one per round, feed-forward) so that the groups
 * can be interleaved round by round; $d_g holds D of the group's lanes. Leaves the digest h0..h4 (IV added) in
 * locals $h0_g..$h4_g.
 */
function sha1Rounds(g: number, rotations: Array<Set<number>>): string[][] {
  const chunks: string[][] = [];
  const rotated = new Set<number>([0]);
  // rotl(D, r) of this group, computed the first time a word needs it.
  const rotation = (r: number): string[] => {
    if (rotated.has(r)) return [];
    rotated.add(r);
    return [...rotl(`$d_${g}`, r), `local.set $d${r}_${g}`];
  };
  const dName = (r: number): string => (r === 0 ? `$d_${g}` : `$d${r}_${g}`);
  const names = ["$a", "$b", "$c", "$dd", "$e"].map((name) => `${name}_${g}`);
  chunks.push(names.flatMap((name, i) => [splat(IV[i]!), `local.set ${name}`]));
  let [a, b, c, d, e] = names as [string, string, string, string, string];
  for (let t = 0; t < 80; t++) {
    const code: string[] = [];
    const stage = Math.floor(t / 20);
    const varying = [...rotations[t]!].sort((x, y) => x - y);
    for (const r of varying) code.push(...rotation(r));
    code.push(`local.get ${e}`, ...rotl(a, 5), "i32x4.add");
    if (stage === 0) code.push(`local.get ${c}`, `local.get ${d}`, `local.get ${b}`, "v128.bitselect");
    else if (stage === 2)
      code.push(
        `local.get ${c}`,
        `local.get ${b}`,
        `local.get ${b}`,
        `local.get ${d}`,
        "v128.xor",
        "v128.bitselect",
      );
    else code.push(`local.get ${b}`, `local.get ${c}`, "v128.xor", `local.get ${d}`, "v128.xor");
    code.push("i32x4.add");
    if (varying.length === 0) {
      // No varying part: the word and the round constant, added once per run.
      const added = foldedIntoRoundConstant(t, rotations)
        ? `local.get $kk${t}`
        : splat(ROUND_CONSTANTS[stage]!);
      code.push(added, "i32x4.add");
    } else {
      code.push(splat(ROUND_CONSTANTS[stage]!), "i32x4.add");
      // W_t = K_t XOR the rotations of D; for t < 16 the bytes do not overlap, so XOR is the word itself.
      const first = CONSTANT_PART[t] ? [`local.get ${constantPart(t)}`] : [];
      const terms = [...first, ...varying.map((r) => `local.get ${dName(r)}`)];
      code.push(terms[0]!);
      for (const term of terms.slice(1)) code.push(term, "v128.xor");
      code.push("i32x4.add");
    }
    code.push(`local.set ${e}`);
    code.push(...rotl(b, 30), `local.set ${b}`);
    [a, b, c, d, e] = [e, a, b, c, d];
    chunks.push(code);
  }
  chunks.push(
    [a, b, c, d, e].flatMap((local, i) => [
      `local.get ${local}`,
      splat(IV[i]!),
      "i32x4.add",
      `local.set $h${i}_${g}`,
    ]),
  );
  return chunks;
}

/** All lane groups' rounds, interleaved round by round: independent chains for the out-of-order core. */
function interleavedRounds(rotations: Array<Set<number>>): string[] {
  const perGroup = Array.from({ length: GROUPS }, (_, g) => sha1Rounds(g, rotations));
  const code: string[] = [];
  for (let chunk = 0; chunk < perGroup[0]!.length; chunk++) {
    for (const chunks of perGroup) code.push(...chunks[chunk]!);
  }
  return code;
}

/** Six bit planes $x0..$x5 of the 27 digest values of group g (value j at bit 31 − j). */
function bitPlanes(g: number): string[] {
  const code: string[] = [];
  // $r0..$r5: 30-bit groups of five values each, value 5r at the top.
  const repack: Array<[number, number, number]> = [
    [0, -1, 0],
    [0, 1, 30],
    [1, 2, 28],
    [2, 3, 26],
    [3, 4, 24],
    [4, -1, 22],
  ];
  repack.forEach(([first, second, shift], r) => {
    code.push(`local.get $h${first}_${g}`);
    if (shift > 0) code.push(`i32.const ${shift}`, "i32x4.shl");
    if (second >= 0)
      code.push(`local.get $h${second}_${g}`, `i32.const ${32 - shift}`, "i32x4.shr_u", "v128.or");
    code.push("i32.const 2", "i32x4.shr_u", `local.set $r${r}`);
  });
  // Bit b of the five values of a group, gathered by one multiply into bits 20..24 (no carries: the partial
  // products land on distinct bits), then moved to bits 31 − j.
  for (let b = 0; b < 6; b++) {
    for (let r = 0; r < 6; r++) {
      code.push(`local.get $r${r}`);
      if (b > 0) code.push(`i32.const ${b}`, "i32x4.shr_u");
      code.push(splat(0x01041041), "v128.and", splat(0x00108421), "i32x4.mul", splat(0x01f00000), "v128.and");
      const move = 7 - 5 * r;
      if (move > 0) code.push(`i32.const ${move}`, "i32x4.shl");
      else code.push(`i32.const ${-move}`, "i32x4.shr_u");
      if (r > 0) code.push("v128.or");
    }
    code.push(`local.set $x${b}`);
  }
  return code;
}

/** For the target position at $p: the mask of hash positions that match it, shifted left by $i (on the stack). */
function positionMatches(): string[] {
  const code: string[] = [];
  for (const valueOffset of [0, 96]) {
    for (let b = 0; b < 6; b++) {
      code.push(`local.get $x${b}`, "local.get $p", `v128.load offset=${valueOffset + 16 * b}`, "v128.xor");
      if (b > 0) code.push("v128.and");
    }
  }
  code.push("v128.or", "local.get $p", "v128.load offset=192", "v128.and");
  code.push("local.get $p", "v128.load offset=208", "v128.or", "local.get $i", "i32x4.shl");
  return code;
}

/** Leaves in $alive_g, per lane, the windows of group g within the report (non-zero: a hit). */
function distance(g: number): string[] {
  const level = (k: string, offset = 0): string[] => [
    `local.get ${k}`,
    "i32.const 4",
    "i32.shl",
    `v128.load offset=${LEVELS_OFFSET + offset}`,
  ];
  return [
    "local.get $levels",
    "i32.eqz",
    "if",
    // report ≥ target length: every candidate is within it.
    "v128.const i32x4 -1 -1 -1 -1",
    `local.set $alive_${g}`,
    "else",
    ...bitPlanes(g),
    "i32.const 1",
    "local.set $k",
    `loop $clear_${g}`,
    "local.get $k",
    "i32.const 4",
    "i32.shl",
    "v128.const i32x4 0 0 0 0",
    `v128.store offset=${LEVELS_OFFSET}`,
    "local.get $k",
    "i32.const 1",
    "i32.add",
    "local.tee $k",
    "local.get $levels",
    "i32.le_u",
    `br_if $clear_${g}`,
    "end",
    "i32.const 0",
    "local.set $i",
    `i32.const ${POSITION_TABLE_OFFSET}`,
    "local.set $p",
    `block $positionsDone_${g}`,
    `loop $position_${g}`,
    ...positionMatches(),
    "v128.not",
    "local.set $miss",
    // L_k |= L_(k-1) & miss, for k = K down to 2, then L_1 |= miss.
    "local.get $levels",
    "local.set $k",
    `block $levelsDone_${g}`,
    `loop $level_${g}`,
    "local.get $k",
    "i32.const 1",
    "i32.le_u",
    `br_if $levelsDone_${g}`,
    "local.get $k",
    "i32.const 4",
    "i32.shl",
    ...level("$k"),
    ...level("$k", -16),
    "local.get $miss",
    "v128.and",
    "v128.or",
    `v128.store offset=${LEVELS_OFFSET}`,
    "local.get $k",
    "i32.const 1",
    "i32.sub",
    "local.set $k",
    `br $level_${g}`,
    "end",
    "end",
    "i32.const 0",
    "i32.const 0",
    `v128.load offset=${LEVELS_OFFSET + 16}`,
    "local.get $miss",
    "v128.or",
    `v128.store offset=${LEVELS_OFFSET + 16}`,
    // Windows still within the report; stop as soon as no lane has one.
    "local.get $win",
    ...level("$levels"),
    "v128.andnot",
    `local.tee $alive_${g}`,
    "v128.any_true",
    "i32.eqz",
    `br_if $positionsDone_${g}`,
    "local.get $p",
    `i32.const ${POSITION_TABLE_STRIDE}`,
    "i32.add",
    "local.set $p",
    "local.get $i",
    "i32.const 1",
    "i32.add",
    "local.tee $i",
    "local.get $m",
    "i32.lt_u",
    `br_if $position_${g}`,
    "end",
    "end",
    "end",
  ];
}

/** Scratch addresses of the hitting step: digest word w of lane k at DIGESTS + 16·GROUPS·w + 4k, hit of lane k at HITS + 4k. */
const DIGESTS = 64;
const HITS = DIGESTS + 80 * GROUPS;

/** Returns the first lane of this step that is a hit (and inside the run), its digest copied to memory 0..19. */
function reportHit(): string[] {
  const code: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    code.push(`local.get $alive_${g}`, "v128.const i32x4 0 0 0 0", "i32x4.ne");
    code.push(
      `local.get $vv_${g}`,
      "local.get $to",
      "i32x4.splat",
      "i32x4.lt_s",
      "v128.and",
      `local.set $hit_${g}`,
    );
  }
  for (let g = 0; g < GROUPS; g++) code.push(`local.get $hit_${g}`, ...(g > 0 ? ["v128.or"] : []));
  code.push("v128.any_true", "if");
  for (let g = 0; g < GROUPS; g++) {
    for (let w = 0; w < 5; w++) {
      code.push(
        "i32.const 0",
        `local.get $h${w}_${g}`,
        `v128.store offset=${DIGESTS + 16 * GROUPS * w + 16 * g}`,
      );
    }
    code.push("i32.const 0", `local.get $hit_${g}`, `v128.store offset=${HITS + 16 * g}`);
  }
  code.push(
    "i32.const 0",
    "local.set $lane",
    "loop $find",
    "local.get $lane",
    "i32.const 2",
    "i32.shl",
    `i32.load offset=${HITS}`,
    "i32.eqz",
    "if",
    "local.get $lane",
    "i32.const 1",
    "i32.add",
    "local.set $lane",
    "br $find",
    "end",
    "end",
  );
  for (let w = 0; w < 5; w++) {
    code.push(
      `i32.const ${4 * w}`,
      "local.get $lane",
      "i32.const 2",
      "i32.shl",
      `i32.load offset=${DIGESTS + 16 * GROUPS * w}`,
      "i32.store",
    );
  }
  code.push("local.get $v", "local.get $lane", "i32.add", "return", "end");
  return code;
}

/** $vv_g: the step's candidate values (v + 4g + lane), and $d_g: D, their varying byte in place. */
function messages(): string[] {
  const code: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const lanes = [0, 1, 2, 3].map((lane) => 4 * g + lane).join(" ");
    code.push("local.get $v", "i32x4.splat", `v128.const i32x4 ${lanes}`, "i32x4.add", `local.tee $vv_${g}`);
    code.push("local.get $shift", "i32x4.shl", `local.set $d_${g}`);
  }
  return code;
}

/** Parameters of the scan functions, in the order firstHit passes them on. */
const SCAN_PARAMS = ["$w0s", "$w1s", "$shift", "$w15s", "$from", "$to", "$m", "$levels", "$windows"];

/** The scan of runs whose varying byte is in word `vary` (0 or 1). */
function scanFunction(vary: number): string[] {
  const rotations = varyingRotations(vary);
  const i32Locals = ["$v", "$i", "$k", "$p", "$lane"];
  const vectorLocals = ["$W0", "$W1", "$win", "$m15", "$miss", ...runConstantLocals(rotations)];
  for (let i = 0; i < 6; i++) vectorLocals.push(`$r${i}`, `$x${i}`);
  const usedRotations = new Set<number>();
  for (const set of rotations) for (const r of set) if (r !== 0) usedRotations.add(r);
  for (let g = 0; g < GROUPS; g++) {
    vectorLocals.push(...["$vv", "$d", "$a", "$b", "$c", "$e", "$alive", "$hit"].map((l) => `${l}_${g}`));
    // "$d_g" is D; the round register d is named $dd_g here to keep the two apart.
    vectorLocals.push(`$dd_${g}`);
    for (const r of [...usedRotations].sort((x, y) => x - y)) vectorLocals.push(`$d${r}_${g}`);
    for (let i = 0; i < 5; i++) vectorLocals.push(`$h${i}_${g}`);
  }
  const body = [
    "local.get $w0s",
    "i32x4.splat",
    "local.set $W0",
    "local.get $w1s",
    "i32x4.splat",
    "local.set $W1",
    "local.get $w15s",
    "i32x4.splat",
    "local.set $m15",
    "local.get $windows",
    "i32x4.splat",
    "local.set $win",
    ...runConstants(rotations),
    "local.get $from",
    "local.set $v",
    "block $done",
    "loop $next",
    "local.get $v",
    "local.get $to",
    "i32.ge_s",
    "br_if $done",
    ...messages(),
    ...interleavedRounds(rotations),
    ...Array.from({ length: GROUPS }, (_, g) => distance(g)).flat(),
    ...reportHit(),
    "local.get $v",
    `i32.const ${4 * GROUPS}`,
    "i32.add",
    "local.set $v",
    "br $next",
    "end",
    "end",
    "i32.const -1",
  ];
  return [
    `  (func $scan${vary} ${SCAN_PARAMS.map((p) => `(param ${p} i32)`).join(" ")} (result i32)`,
    `    ${i32Locals.map((l) => `(local ${l} i32)`).join(" ")}`,
    `    ${vectorLocals.map((l) => `(local ${l} v128)`).join(" ")}`,
    ...body.map((line) => `    ${line}`),
    "  )",
  ];
}

/** The complete module text; deterministic, so the build is reproducible. */
export function generateScanWat(): string {
  const params = [
    "$w0s",
    "$w1s",
    "$varyWord",
    "$shift",
    "$w15s",
    "$from",
    "$to",
    "$m",
    "$levels",
    "$windows",
  ];
  const passOn = SCAN_PARAMS.map((p) => `local.get ${p}`);
  return [
    ";; Generated by src/search/wasm/scan-wat.ts — edit that file, then run `npm run build:wasm`.",
    "(module",
    '  (memory (export "memory") 1)',
    ...scanFunction(0),
    ...scanFunction(1),
    `  (func (export "firstHit") ${params.map((p) => `(param ${p} i32)`).join(" ")} (result i32)`,
    "    local.get $varyWord",
    "    if (result i32)",
    ...passOn.map((line) => `      ${line}`),
    "      call $scan1",
    "    else",
    ...passOn.map((line) => `      ${line}`),
    "      call $scan0",
    "    end",
    "  )",
    ")",
    "",
  ].join("\n");
}
