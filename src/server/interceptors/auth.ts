/**
 * Bearer-token authentication for the services that need it (TodoService); other services (HashFinder) pass
 * through untouched. The token is resolved to a user once per call and put in the call's context values, where
 * handlers read it with {@link authenticatedUser}.
 */
import { type ContextValues, createContextKey, type Interceptor } from "@connectrpc/connect";
import { unauthenticated } from "../../errors.ts";
import type { TaskStore } from "../../store/task-store.ts";

const userIdKey = createContextKey<bigint | undefined>(undefined, { description: "cancelkit user" });

export interface AuthInterceptorOptions {
  /** Resolves tokens (`userForToken`). */
  store: Pick<TaskStore, "userForToken">;
  /** Fully qualified names of the services that require a token, e.g. "todo.v2.TodoService". */
  services: readonly string[];
}

/** "Bearer <token>" → the token; `undefined` for a missing or malformed header. */
export function bearerToken(header: string | null): string | undefined {
  const match = header === null ? null : /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Rejects calls to `services` without a known bearer token with UNAUTHENTICATED before the handler runs (for
 * streams: before any request message is read); otherwise records the token's user for the handler. The
 * lookup runs with the call's signal, so a call cancelled meanwhile rejects with its own reason.
 */
export function createAuthInterceptor({ store, services }: AuthInterceptorOptions): Interceptor {
  const guarded = new Set(services);
  return (next) => async (req) => {
    if (!guarded.has(req.service.typeName)) return next(req);
    const token = bearerToken(req.header.get("authorization"));
    if (token === undefined)
      throw unauthenticated('missing credentials: send "authorization: Bearer <token>"');
    const userId = await store.userForToken(req.signal, token);
    if (userId === undefined) throw unauthenticated("unknown token");
    req.contextValues.set(userIdKey, userId);
    return next(req);
  };
}

/**
 * The user the auth interceptor resolved for this call. Throws a plain Error (INTERNAL for the client, detail
 * in the log) if the interceptor did not run: a wiring mistake, never a client's.
 */
export function authenticatedUser(values: ContextValues): bigint {
  const userId = values.get(userIdKey);
  if (userId === undefined)
    throw new Error("no authenticated user in the call context: auth interceptor missing");
  return userId;
}
