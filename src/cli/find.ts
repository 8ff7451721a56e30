/** `cancelkit find`: Find, or FindRange with --show-inferior, printed for people or as JSON lines. */
import { createClient } from "@connectrpc/connect";
import { formatDuration } from "../duration.ts";
import { HashFinder, type HashNameResponse } from "../gen/hash_name/hash_name_pb.ts";
import { MAX_DESIRED_NAME_LENGTH } from "../services/validate.ts";
import { parseCommandLine } from "./command-line.ts";
import { startProgress } from "./progress.ts";
import { stdoutRoom } from "./stdout-room.ts";
import { DEFAULT_SERVER, parseTimeout, TIMEOUT_RANGE, transportFor } from "./transport.ts";
import { UsageError } from "./usage-error.ts";

/**
 * A distance counts the characters of NAME (at most 28, as many as a base64 SHA-1 has) that differ, so no larger
 * one finds anything more; the proto fields are int32, which a larger number would not even encode into.
 */
const MAX_DISTANCE = MAX_DESIRED_NAME_LENGTH;

export const FIND_HELP = `Usage: cancelkit find NAME [options]

Finds the first byte string whose base64 SHA-1 contains NAME (case-insensitively) within a Hamming distance.

Options:
  --ideal N            the answer's maximum distance, 0 to ${MAX_DISTANCE} (default 0)
  --show-inferior N    stream every candidate within distance N on the way (FindRange), 0 to ${MAX_DISTANCE};
                       below --ideal, one within N does not end the stream
  --server HOST:PORT   server address (default ${DEFAULT_SERVER})
  --timeout DURATION   deadline for the call, e.g. 500ms, 30s, 2m; 1ms to ${formatDuration(TIMEOUT_RANGE.maxMs)} (default: none)
  --json               one JSON object per result on stdout
  -h, --help           this text

Ctrl-C cancels the call (the server stops searching) and exits 130.
`;

function distance(text: string | undefined, flag: string): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text) || Number(text) > MAX_DISTANCE) {
    throw new UsageError(`${flag}: "${text}" must be a whole number from 0 to ${MAX_DISTANCE}`);
  }
  return Number(text);
}

function describe(res: HashNameResponse, json: boolean): string {
  const secretHex = Buffer.from(res.secret, "base64").toString("hex");
  if (json) {
    return JSON.stringify({
      secret: res.secret,
      secretHex,
      hashedName: res.hashedName,
      hammingDistance: res.hammingDistance,
      candidatesSearched: Number(res.candidatesSearched),
    });
  }
  const secret = res.secret === "" ? '"" (the empty string)' : `${res.secret}  (hex ${secretHex})`;
  return `secret ${secret}  hashed_name ${res.hashedName}  distance ${res.hammingDistance}  candidate #${res.candidatesSearched}`;
}

export async function find(args: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      ideal: { type: "string" },
      "show-inferior": { type: "string" },
      server: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(FIND_HELP);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new UsageError("find takes exactly one NAME");
  const ideal = distance(values.ideal, "--ideal");
  const inferior = values["show-inferior"];
  const interesting = distance(inferior, "--show-inferior");
  const timeoutMs = parseTimeout(values.timeout);
  const server = values.server ?? DEFAULT_SERVER;
  const client = createClient(HashFinder, transportFor(server));
  const json = values.json === true;
  const request = { desiredName: name, idealHammingDistance: ideal };

  let found = 0;
  const progress = startProgress(() => `searching for "${name}"…`);
  try {
    if (inferior === undefined) {
      const res = await client.find(request, { signal, timeoutMs });
      progress.stop();
      process.stdout.write(`${describe(res, json)}\n`);
      return 0;
    }
    for await (const res of client.findRange(
      { ...request, interestingHammingDistance: interesting },
      { signal, timeoutMs },
    )) {
      // Messages already buffered may still arrive after Ctrl-C; print nothing more once cancelled.
      if (signal.aborted) break;
      found++;
      progress.update(`${found} found`);
      progress.print(`${describe(res, json)}\n`);
      await stdoutRoom(signal);
    }
    progress.stop();
    if (signal.aborted) throw signal.reason;
    return 0;
  } finally {
    progress.stop();
  }
}
