/**
 * grpc.health.v1.Health (https://github.com/grpc/grpc/blob/master/doc/health-checking.md): the serving status of
 * the server ("") and of each service, as probes (grpc_health_probe, Kubernetes gRPC probes, load balancers) read
 * it. Watch pushes changes from HealthState's listeners; nothing polls.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import { notFound, quoted } from "../errors.ts";
import {
  type Health,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.ts";

export { ServingStatus };
export type ServingStatusValue = HealthCheckResponse["status"];

/** Told the service whose status changed, or undefined when the whole server is shutting down. */
type Listener = (service: string | undefined) => void;

/**
 * The status of each known service; "" is the server as a whole and starts SERVING. Once `enterShutdown()` has
 * run, every status is NOT_SERVING and stays so: later `set()` calls are ignored, so a late registration cannot
 * make a stopping server look healthy, and Watch streams end after telling their client.
 */
export class HealthState {
  readonly #statuses = new Map<string, ServingStatusValue>([["", ServingStatus.SERVING]]);
  readonly #listeners = new Set<Listener>();
  #shuttingDown = false;

  /** The status of `service`, or undefined when the service is unknown. */
  get(service: string): ServingStatusValue | undefined {
    return this.#statuses.get(service);
  }

  /** Whether `service` has a status (known services answer Check; unknown ones get NOT_FOUND). */
  has(service: string): boolean {
    return this.#statuses.has(service);
  }

  /** Sets the status of `service` and tells the watchers when it changed. Ignored after `enterShutdown()`. */
  set(service: string, status: ServingStatusValue): void {
    if (this.#shuttingDown) return;
    this.#update(service, status);
  }

  /**
   * Flips every service (and "") to NOT_SERVING for good. Watchers get the change at once, then their streams end
   * with OK (the spec tells clients to retry), so open Watch calls do not hold up a graceful shutdown. Idempotent.
   */
  enterShutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const service of this.#statuses.keys()) this.#update(service, ServingStatus.NOT_SERVING);
    for (const listener of this.#listeners) listener(undefined);
  }

  /** Whether `enterShutdown()` has run. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** A snapshot of every service and its status. */
  entries(): [string, ServingStatusValue][] {
    return [...this.#statuses];
  }

  /** How many watchers are listening (a test's leak check). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Calls `listener` with the service name after each change; returns the function that removes it. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #update(service: string, status: ServingStatusValue): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const listener of this.#listeners) listener(service);
  }
}

/**
 * The Health service over `health`. Check of an unknown service fails with NOT_FOUND; Watch of one sends
 * SERVICE_UNKNOWN and keeps watching (as the spec says). Watch ends with OK once `health.enterShutdown()` has run
 * and the client has the last status, or when the call's signal aborts (client cancel, deadline, shutdown signal)
 * with that signal's reason as the status.
 */
export function createHealthService(health: HealthState): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = health.get(req.service);
      if (status === undefined) throw notFound(`service ${quoted(req.service)}`);
      return { status };
    },

    async *watch(req, ctx) {
      // One listener for the whole call, released in `finally` however the generator ends (abort, or Connect
      // returning it at a yield): a change only marks the status dirty and wakes the loop.
      let dirty = true;
      let wake: (() => void) | undefined;
      const stopListening = health.onChange((service) => {
        if (service !== undefined && service !== req.service) return;
        dirty = true;
        wake?.();
      });
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        let sent: ServingStatusValue | undefined;
        for (;;) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          if (dirty) {
            dirty = false;
            const status = health.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
            if (status !== sent) {
              sent = status;
              yield { status };
            }
            if (health.shuttingDown) return;
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        stopListening();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },

    list() {
      return {
        statuses: Object.fromEntries(health.entries().map(([service, status]) => [service, { status }])),
      };
    },
  };
}
