/**
 * `cancelkit todo …`: the TodoService from the command line — add, list (optionally stopping the stream at the
 * first overdue task), update several tasks in one stream, delete in lock-step, and the book's demo. Every call
 * carries Ctrl-C's signal, --timeout's deadline, and the bearer token.
 */
import { readFile } from "node:fs/promises";
import type { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { formatDuration } from "../duration.ts";
import { unauthenticated } from "../errors.ts";
import { TodoService } from "../gen/todo/v2/todo_pb.ts";
import { tokenPath } from "../store/bootstrap.ts";
import { parseCommandLine } from "./command-line.ts";
import { dataDirFlag } from "./data-dir.ts";
import { type DemoServer, startDemoServer } from "./demo-server.ts";
import { parseDue } from "./due-date.ts";
import { deleteIds } from "./todo-delete.ts";
import { demo } from "./todo-demo.ts";
import { listTasks } from "./todo-list.ts";
import type { TodoSession } from "./todo-session.ts";
import { DEFAULT_SERVER, parseTimeout, TIMEOUT_RANGE, transportFor } from "./transport.ts";
import { UsageError } from "./usage-error.ts";

export const TODO_HELP = `Usage: cancelkit todo <command> [options]

Commands:
  add DESCRIPTION --due WHEN     add a task; WHEN is a duration from now (2h, 30m) or RFC 3339 (2026-12-01T10:00Z)
  list                           stream your tasks in id order
       [--fields id,description,done,due_date]  only these fields (a FieldMask)
       [--cancel-on-overdue]     cancel the stream at the first overdue task
  update ID [ID…]                change tasks, all in one stream, applied together or not at all
       [--description TEXT] [--due WHEN] [--done | --not-done]
  delete ID [ID…]                delete tasks one at a time, each printed once the server says it is durable
  demo                           the book's scenario: add three, list, update, list (cancelling the stream
                                 at the first overdue task), delete, list; without --server it starts a
                                 server of its own and shows what that server did with the cancelled call;
                                 with --server it deletes the tasks it added (its three and 3000
                                 filler tasks) even when interrupted

Options:
  --server HOST:PORT   server address (default ${DEFAULT_SERVER})
  --timeout DURATION   deadline for each call, e.g. 500ms, 30s; 1ms to ${formatDuration(TIMEOUT_RANGE.maxMs)} (default: none)
  --token TOKEN        bearer token (default: $CANCELKIT_TOKEN, else the file DATA_DIR/token)
  --data-dir DIR       where the server wrote the local token (default ./data)
  --json               one JSON object per line on stdout (ids as strings, due dates in RFC 3339)
  -h, --help           this text

Ctrl-C cancels the running call and exits 130: a cancelled update applies nothing. A cancelled delete sends
no further ID and waits up to 2 s (a second Ctrl-C: no longer) for the answer to the delete in flight, so the
deletes applied are exactly those printed; if that answer does not come in time, it names the task whose
delete may have been applied. --timeout ends a delete the same way at its deadline (exit 4); the server is
given the deadline plus those 2 s, so that it does not cut off the last answer itself.
`;

const OPTIONS = {
  server: { type: "string" },
  timeout: { type: "string" },
  token: { type: "string" },
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  due: { type: "string" },
  description: { type: "string" },
  done: { type: "boolean" },
  "not-done": { type: "boolean" },
  fields: { type: "string" },
  "cancel-on-overdue": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which options each command accepts beyond the common ones. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  add: ["due"],
  list: ["fields", "cancel-on-overdue"],
  update: ["description", "due", "done", "not-done"],
  delete: [],
  demo: [],
};
const COMMON = ["server", "timeout", "token", "data-dir", "json", "help"];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/**
 * The token: --token, else $CANCELKIT_TOKEN, else `<data-dir>/token` (written by the server on first start).
 * Throws UNAUTHENTICATED (exit 8) saying where it looked when there is none.
 */
export async function resolveToken(flag: string | undefined, dataDir: string): Promise<string> {
  // An empty one is refused, not skipped: `--token "$BOB"` with $BOB unset fell through to the next source, the
  // data dir's token, and listed, changed or deleted user local's tasks instead of failing.
  if (flag !== undefined) return headerSafe(nonEmpty(flag, "--token"), "--token");
  const fromEnv = process.env.CANCELKIT_TOKEN;
  if (fromEnv !== undefined) return headerSafe(nonEmpty(fromEnv, "CANCELKIT_TOKEN"), "CANCELKIT_TOKEN");
  const path = tokenPath(dataDir);
  const noToken = (why: string) =>
    unauthenticated(
      `no token: pass --token, set CANCELKIT_TOKEN, or point --data-dir at the server's data dir (${path} ${why})`,
    );
  let token: string;
  try {
    token = (await readFile(path, "utf8")).trim();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === "ENOENT") throw noToken("does not exist");
    // A --data-dir that is a file (ENOTDIR), a token that is a directory (EISDIR), a file not readable: these
    // ended as "error (Unknown): ENOTDIR: …", exit 1, naming neither the flag nor what to do.
    throw noToken(`cannot be read: ${message}`);
  }
  // Sent as it was, an empty file was "missing credentials" from the server, which sent the user to the wrong place.
  if (token === "") throw noToken("is empty");
  return headerSafe(token, path);
}

function nonEmpty(token: string, source: string): string {
  if (token === "") {
    throw new UsageError(
      `${source} is empty: give a token, or leave it out (unset CANCELKIT_TOKEN) to use the data dir's token file`,
    );
  }
  return token;
}

/**
 * A token is printable ASCII (the server's are 43 base64url characters). One with a newline or another control
 * character failed in the HTTP client, whose message ("error (Unknown): Headers.append: "Bearer …" is an invalid
 * header value", exit 1) printed the token on stderr, into whatever log keeps it.
 */
function headerSafe(token: string, from: string): string {
  if (/^[\x21-\x7e]+$/.test(token)) return token;
  throw unauthenticated(
    `the token from ${from} is no token: it holds spaces, control or non-ASCII characters`,
  );
}

/** The largest task id: the proto's `uint64 id`. A larger one cannot be put on the wire. */
const MAX_TASK_ID = 2n ** 64n - 1n;

function parseIds(texts: readonly string[]): bigint[] {
  if (texts.length === 0) throw new UsageError("give at least one task ID");
  return texts.map((text) => {
    if (!/^\d+$/.test(text) || BigInt(text) === 0n)
      throw new UsageError(`"${text}" is not a task ID (1, 2, …)`);
    const id = BigInt(text);
    if (id > MAX_TASK_ID) throw new UsageError(`task ID "${text}" must be from 1 to ${MAX_TASK_ID}`);
    return id;
  });
}

async function add(s: TodoSession, args: string[], values: Values): Promise<number> {
  const [description, ...extra] = args;
  if (description === undefined || extra.length > 0) {
    throw new UsageError('todo add takes one DESCRIPTION (quote it: "buy milk")');
  }
  if (values.due === undefined) throw new UsageError("todo add needs --due (e.g. --due 2h)");
  const due = parseDue(values.due, "--due");
  const { id } = await s.client.addTask({ description, dueDate: due }, s.call());
  process.stdout.write(s.json ? `${JSON.stringify({ id: String(id) })}\n` : `added task ${id}\n`);
  return 0;
}

async function list(s: TodoSession, args: string[], values: Values): Promise<number> {
  if (args.length > 0) throw new UsageError("todo list takes no arguments");
  // Empty entries are no field: `--fields ""` is the empty mask (every field), as over the RPC, not the path "".
  const named = values.fields
    ?.split(",")
    .map((f) => f.trim())
    .filter((f) => f !== "");
  const fields = named?.length === 0 ? undefined : named;
  const outcome = await listTasks(s, { fields, cancelOnOverdue: values["cancel-on-overdue"] === true });
  if (outcome.stoppedAt !== undefined) {
    process.stderr.write(
      `cancelled the listing at overdue task ${outcome.stoppedAt} after ${outcome.listed} task(s)\n`,
    );
  } else if (outcome.listed === 0 && !s.json) {
    process.stderr.write("no tasks\n");
  }
  return 0;
}

async function update(s: TodoSession, args: string[], values: Values): Promise<number> {
  const ids = parseIds(args);
  if (values.done && values["not-done"]) throw new UsageError("--done and --not-done exclude each other");
  const done = values.done ? true : values["not-done"] ? false : undefined;
  const due = values.due === undefined ? undefined : parseDue(values.due, "--due");
  if (values.description === undefined && due === undefined && done === undefined) {
    throw new UsageError("todo update needs --description, --due, --done or --not-done");
  }
  if (values.description === "") throw new UsageError("--description must not be empty");
  async function* requests() {
    for (const id of ids) yield { id, description: values.description ?? "", done, dueDate: due };
  }
  await s.client.updateTasks(requests(), s.call());
  process.stdout.write(
    s.json
      ? `${JSON.stringify({ updated: ids.map(String) })}\n`
      : `updated ${ids.length === 1 ? "task" : "tasks"} ${ids.join(", ")}\n`,
  );
  return 0;
}

async function remove(s: TodoSession, args: string[]): Promise<number> {
  await deleteIds(s, parseIds(args));
  return 0;
}

export async function todo(args: string[], signal: AbortSignal): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(TODO_HELP);
    return command === undefined ? 2 : 0;
  }
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined)
    throw new UsageError(`unknown todo command "${command}" (try: cancelkit todo --help)`);
  const { values, positionals } = parseCommandLine({ args: rest, allowPositionals: true, options: OPTIONS });
  if (values.help) {
    process.stdout.write(TODO_HELP);
    return 0;
  }
  for (const name of Object.keys(values)) {
    if (!COMMON.includes(name) && !allowed.includes(name)) {
      throw new UsageError(`todo ${command} does not take --${name}`);
    }
  }
  const timeoutMs = parseTimeout(values.timeout);
  // `todo demo` without --server runs against a server of its own, whose log it can show.
  const demoServer = command === "demo" && values.server === undefined ? await startDemoServer() : undefined;
  try {
    const server = demoServer?.address ?? values.server ?? DEFAULT_SERVER;
    const token = demoServer?.token ?? (await resolveToken(values.token, dataDirFlag(values["data-dir"])));
    return await run(command, positionals, values, { server, token, timeoutMs, signal, demoServer });
  } finally {
    await demoServer?.close();
  }
}

interface Target {
  server: string;
  token: string;
  timeoutMs: number | undefined;
  signal: AbortSignal;
  demoServer: DemoServer | undefined;
}

function run(command: string, positionals: string[], values: Values, target: Target): Promise<number> {
  const { server, token, timeoutMs, signal, demoServer } = target;
  const client = createClient(TodoService, transportFor(server));
  const session: TodoSession = {
    client,
    signal,
    server,
    demoServer,
    json: values.json === true,
    call: (callSignal = signal) => ({
      signal: callSignal,
      timeoutMs,
      headers: { authorization: `Bearer ${token}` },
    }),
  };
  switch (command) {
    case "add":
      return add(session, positionals, values);
    case "list":
      return list(session, positionals, values);
    case "update":
      return update(session, positionals, values);
    case "delete":
      return remove(session, positionals);
    default:
      return demo(session, positionals);
  }
}
