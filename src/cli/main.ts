/**
 * `cancelkit`: the server and the clients in one command. One AbortController, aborted by Ctrl-C, cancels
 * whatever call is running; the server then sees CANCELLED and stops the work.
 */
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { serverHelp } from "../server/options.ts";
import { describeFailure, EXIT } from "./exit-codes.ts";
import { FIND_HELP, find } from "./find.ts";
import { serve } from "./serve.ts";
import { TODO_HELP, todo } from "./todo.ts";
import { DEFAULT_SERVER } from "./transport.ts";
import { UsageError } from "./usage-error.ts";
import { USERS_HELP, users } from "./users.ts";
import { linkToWrapper } from "./wrapper-link.ts";

const HELP = `Usage: cancelkit <command> [options]

Commands:
  serve        start the server (cancelkit serve --help)
  find NAME    search for a hash containing NAME (cancelkit find --help)
  todo …       add, list, update and delete tasks; todo demo (cancelkit todo --help)
  users add N  create user N in the data dir and print its token (cancelkit users --help)

Ctrl-C cancels a running call and exits 130; SIGTERM and SIGHUP do the same and exit 143 and 129.
`;

/** The abort reason when stdout's reader went away. */
const OUTPUT_CLOSED = "output closed";

type Command = (args: string[], signal: AbortSignal) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve: (args) => serve(args),
  find,
  todo,
  users,
};

/** `cancelkit help COMMAND`: the same text as `cancelkit COMMAND --help`. */
const HELPS: Record<string, () => string> = {
  serve: serverHelp,
  find: () => FIND_HELP,
  todo: () => TODO_HELP,
  users: () => USERS_HELP,
};

/**
 * The server a failed command called, for the "unreachable" message: --server as the command read it, in either
 * form (`--server H:P` or `--server=H:P`, the last one winning), else the default.
 */
function serverOf(args: string[]): string {
  const { values } = parseArgs({ args, strict: false, options: { server: { type: "string" } } });
  return typeof values.server === "string" ? values.server : DEFAULT_SERVER;
}

/** Aborted by Ctrl-C, SIGTERM, SIGHUP or a closed stdout: cancels whatever call the command runs. */
const interrupt = new AbortController();

/**
 * Signals that cancel as a first Ctrl-C does, each with its abort reason and the exit code the shell gives a
 * process that signal ends (128 + its number). Their default action killed the CLI outright: the server saw a
 * dropped connection, `todo delete` lost the answer in flight, and `todo demo --server` left its tasks in the
 * user's list (SIGTERM from a supervisor or `timeout`; SIGHUP when the terminal closes).
 */
const ENDING_SIGNALS = [
  {
    signal: "SIGTERM",
    reason: new ConnectError("cancelled by SIGTERM", Code.Canceled),
    exit: EXIT.terminated,
  },
  { signal: "SIGHUP", reason: new ConnectError("cancelled by SIGHUP", Code.Canceled), exit: EXIT.hungUp },
] as const;

/** A write failed because nothing reads the stream any more: a closed pipe, or a closed terminal. */
function readerGone(error: NodeJS.ErrnoException): boolean {
  return error.code === "EPIPE" || error.code === "EIO";
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? args[0] : undefined;
    if (topic === undefined) {
      process.stdout.write(HELP);
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    // `help serve` printed this overview instead of serve's options, and `help bogus` did so with exit 0.
    const help = HELPS[topic];
    if (help === undefined)
      throw new UsageError(`no help on "${topic}" (commands: ${Object.keys(HELPS).join(", ")})`);
    process.stdout.write(help());
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (try: cancelkit --help)`);
  if (name === "serve") return command(args, new AbortController().signal);

  // Under bin/cancelkit.js on an older system Node: report signals to the wrapper, and stop if it dies.
  linkToWrapper();
  // Not `once`: that removes the listener before calling it, and with no listener left Node restores SIGINT's
  // default action until the abort arms a listener for a second Ctrl-C (laterInterrupt); a second Ctrl-C in that
  // moment killed the process, or, already read with the first, was dropped. Removed after the abort, this
  // listener hands over to that one without a gap.
  const onFirstSigint = () => {
    interrupt.abort(new ConnectError("cancelled by Ctrl-C", Code.Canceled));
    process.removeListener("SIGINT", onFirstSigint);
  };
  process.on("SIGINT", onFirstSigint);
  // Kept for later signals, which change nothing: a kill of the process group reaches the CLI twice under
  // bin/cancelkit.js, which passes SIGTERM on; every cleanup is bounded, and a second Ctrl-C still ends it at once.
  for (const { signal, reason } of ENDING_SIGNALS) process.on(signal, () => interrupt.abort(reason));
  // `cancelkit … | head`: when the reader closes the pipe, cancel the call instead of crashing on EPIPE. A closed
  // terminal fails writes with EIO instead: the SIGHUP cleanup must not crash on its own output.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (!readerGone(error)) throw error;
    interrupt.abort(new ConnectError(OUTPUT_CLOSED, Code.Canceled));
  });
  process.stderr.on("error", (error: NodeJS.ErrnoException) => {
    if (!readerGone(error)) throw error;
  });
  return command(args, interrupt.signal);
}

try {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
} catch (error) {
  if (error instanceof UsageError || (error instanceof TypeError && "code" in error)) {
    // parseArgs reports unknown flags as TypeErrors with an ERR_PARSE_ARGS_* code.
    process.stderr.write(`cancelkit: ${error.message}\n`);
    process.exitCode = EXIT.usage;
  } else {
    const server = serverOf(process.argv.slice(2));
    if (error instanceof ConnectError && error.rawMessage === OUTPUT_CLOSED) {
      process.exitCode = EXIT.outputClosed; // like a process ended by SIGPIPE, silently
    } else {
      const { code, message } = describeFailure(error, server, interrupt.signal.aborted);
      process.stderr.write(`${message}\n`);
      const ending = ENDING_SIGNALS.find(({ reason }) => reason === interrupt.signal.reason);
      process.exitCode = code === EXIT.cancelled && ending !== undefined ? ending.exit : code;
    }
  }
}
/** Resolves once what was written to `stream` has left the process, or can no longer (its reader is gone). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => stream.write("", () => resolve()));
}

// Pending HTTP/2 sessions must not keep a finished command alive; give a cancel's RST_STREAM a moment to leave.
// But only once stdout and stderr have taken what was written: into a pipe, writes wait in the process until the
// reader takes them, and exiting dropped them (`todo list | (sleep 3; wc -l)` counted 1,061 of 20,014, exit 0).
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
setTimeout(() => process.exit(), 20).unref();
