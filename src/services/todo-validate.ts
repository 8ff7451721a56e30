/** TodoService request checks that name the field: INVALID_ARGUMENT before anything is written. */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidField } from "../errors.ts";
import type { UpdateTasksRequest } from "../gen/todo/v2/todo_pb.ts";
import { type Due, dueProblem } from "../store/due.ts";
import { descriptionProblem } from "../store/limits.ts";
import type { TaskUpdate } from "../store/task-store.ts";

/** Most updates one UpdateTasks stream may carry: they are held in memory until the client half-closes. */
export const MAX_UPDATES_PER_STREAM = 10_000;

/** A Timestamp as an exact Due (no Date in between), or `undefined` when absent. */
export function dueFromTimestamp(timestamp: Timestamp | undefined): Due | undefined {
  return timestamp === undefined ? undefined : { seconds: timestamp.seconds, nanos: timestamp.nanos };
}

/**
 * One UpdateTasks message as a store update: an empty description and an absent due date mean "unchanged";
 * `done` absent means unchanged, true/false sets it. A description or due date that is set must be valid as
 * for AddTask (not blank, not too long; a due date not in the past). `where` locates the message in the error.
 */
export function updateFromRequest(req: UpdateTasksRequest, now: Due, where: string): TaskUpdate {
  const update: TaskUpdate = { id: req.id };
  if (req.description !== "") {
    const problem = descriptionProblem(req.description);
    if (problem !== undefined) throw invalidField("description", `${problem} (${where})`);
    update.description = req.description;
  }
  if (req.done !== undefined) update.done = req.done;
  const due = dueFromTimestamp(req.dueDate);
  if (due !== undefined) {
    const problem = dueProblem(due, now);
    if (problem !== undefined) throw invalidField("due_date", `${problem} (${where})`);
    update.due = due;
  }
  return update;
}
