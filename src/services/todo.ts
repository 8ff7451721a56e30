/**
 * todo.v2.TodoService on a TaskStore. Each call belongs to the user the auth interceptor resolved; every store
 * call gets the call's signal, so a cancel, a deadline, a disconnect or shutdown stops reading and writing at
 * once: ListTasks reads no further page, a queued write never runs, UpdateTasks commits nothing.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { tooManyMessages } from "../errors.ts";
import type { TodoService } from "../gen/todo/v2/todo_pb.ts";
import { callInfo } from "../server/call-info.ts";
import { authenticatedUser } from "../server/interceptors/auth.ts";
import { dueFromMillis, validateDue } from "../store/due.ts";
import { validateDescription } from "../store/limits.ts";
import type { TaskStore, TaskUpdate } from "../store/task-store.ts";
import { untilAborted } from "./abortable-stream.ts";
import { listResponse, projectionFromMask } from "./todo-mask.ts";
import { dueFromTimestamp, MAX_UPDATES_PER_STREAM, updateFromRequest } from "./todo-validate.ts";
import { UpdateMemory } from "./update-memory.ts";

export interface TodoServiceOptions {
  store: TaskStore;
  /** Most updates per UpdateTasks stream. Default {@link MAX_UPDATES_PER_STREAM}. */
  maxUpdatesPerStream?: number;
  /** Most bytes one UpdateTasks stream holds. Default MAX_UPDATE_BYTES_PER_STREAM (update-memory.ts). */
  maxUpdateBytesPerStream?: number;
  /** Most bytes all open UpdateTasks streams hold together. Default MAX_HELD_UPDATE_BYTES (update-memory.ts). */
  maxHeldUpdateBytes?: number;
  /** Rows per page read from the store by ListTasks (store default if unset). */
  listPageSize?: number;
}

/**
 * The TodoService handlers. Errors: INVALID_ARGUMENT naming the field, NOT_FOUND for an id the caller does not
 * own (existing or not), RESOURCE_EXHAUSTED for an UpdateTasks stream over its limits (messages, bytes held by
 * it or by all open streams); a cancelled call rejects with its signal's reason (CANCELLED, DEADLINE_EXCEEDED, or
 * UNAVAILABLE at shutdown).
 */
export function createTodoService({
  store,
  maxUpdatesPerStream = MAX_UPDATES_PER_STREAM,
  maxUpdateBytesPerStream,
  maxHeldUpdateBytes,
  listPageSize,
}: TodoServiceOptions): ServiceImpl<typeof TodoService> {
  const updateMemory = new UpdateMemory(maxUpdateBytesPerStream, maxHeldUpdateBytes);
  return {
    /** Validates, then resolves with the new id once the task is durable. */
    async addTask(req, ctx) {
      const userId = authenticatedUser(ctx.values);
      const description = validateDescription("description", req.description);
      const due = validateDue("due_date", dueFromTimestamp(req.dueDate), dueFromMillis(Date.now()));
      const id = await store.addTask(ctx.signal, userId, description, due);
      return { id };
    },

    /**
     * Streams the caller's tasks in id order, one store page at a time: the next page is read only when the
     * client has taken the previous one (HTTP/2 flow control pauses this generator), and the store checks the
     * signal before every row, so a cancelled listing reads nothing more.
     */
    async *listTasks(req, ctx) {
      const userId = authenticatedUser(ctx.values);
      const keep = projectionFromMask(req.mask?.paths);
      const info = callInfo(ctx.values);
      const now = dueFromMillis(Date.now()); // one clock reading for the whole listing
      info.messages = 0;
      const tasks = store.listTasks(
        ctx.signal,
        userId,
        listPageSize === undefined ? {} : { pageSize: listPageSize },
      );
      for await (const task of tasks) {
        yield listResponse(task, keep, now);
        info.messages++;
      }
    },

    /**
     * Collects the stream, checking each message as it arrives (INVALID_ARGUMENT, early NOT_FOUND), and applies
     * everything in one transaction only when the client half-closes. Any error or cancel before that: nothing
     * is applied.
     */
    async updateTasks(requests, ctx) {
      const userId = authenticatedUser(ctx.values);
      const info = callInfo(ctx.values);
      const updates: TaskUpdate[] = [];
      // Held until the call ends, whichever way: ok, error, cancel, deadline or shutdown.
      const memory = updateMemory.openStream();
      info.messages = 0;
      try {
        for await (const req of untilAborted(ctx.signal, requests)) {
          if (updates.length >= maxUpdatesPerStream) throw tooManyMessages("updates", maxUpdatesPerStream);
          const where = `update ${updates.length + 1}, task ${req.id}`;
          const update = updateFromRequest(req, dueFromMillis(Date.now()), where);
          memory.hold(update);
          await store.checkTask(ctx.signal, userId, update.id);
          updates.push(update);
          info.messages++;
        }
        // The stream ended because the client half-closed, or because the call was cancelled: only the former commits.
        ctx.signal.throwIfAborted();
        await store.updateTasks(ctx.signal, userId, updates);
        return {};
      } catch (error) {
        // Only the limits above answer RESOURCE_EXHAUSTED here: the log says so.
        if (error instanceof ConnectError && error.code === Code.ResourceExhausted) info.cause = "limits";
        throw error;
      } finally {
        memory.release();
      }
    },

    /**
     * Deletes one task per request, in order, and answers each once its delete is durable. A cancel while a
     * delete waits for its commit removes it: every answered delete is applied, no unanswered one is started.
     */
    async *deleteTasks(requests, ctx) {
      const userId = authenticatedUser(ctx.values);
      const info = callInfo(ctx.values);
      info.messages = 0;
      for await (const req of untilAborted(ctx.signal, requests)) {
        await store.deleteTask(ctx.signal, userId, req.id);
        yield {};
        info.messages++;
      }
    },
  };
}
