/**
 * ListTasks' FieldMask: which top-level Task fields a response keeps, validated before anything is read, and
 * the projection of a stored task into a response (built as a plain message object: no reflection per row).
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidField, quoted } from "../errors.ts";
import type { ListTasksResponse } from "../gen/todo/v2/todo_pb.ts";
import { type Due, isOverdue } from "../store/due.ts";
import type { StoredTask } from "../store/task-store.ts";

/** The Task fields a mask may name, by their proto (snake_case) names. */
export const TASK_MASK_PATHS = ["id", "description", "done", "due_date"] as const;
export type TaskMaskPath = (typeof TASK_MASK_PATHS)[number];

/** Which Task fields to send. */
export type TaskProjection = Readonly<Record<TaskMaskPath, boolean>>;

const ALL_FIELDS: TaskProjection = { id: true, description: true, done: true, due_date: true };

function isTaskMaskPath(path: string): path is TaskMaskPath {
  return (TASK_MASK_PATHS as readonly string[]).includes(path);
}

/**
 * The projection a mask asks for: no mask or an empty one keeps every field; otherwise only the listed paths.
 * Throws INVALID_ARGUMENT naming `mask.paths` and the first unknown path.
 */
export function projectionFromMask(paths: readonly string[] | undefined): TaskProjection {
  if (paths === undefined || paths.length === 0) return ALL_FIELDS;
  const keep: Record<TaskMaskPath, boolean> = { id: false, description: false, done: false, due_date: false };
  for (const path of paths) {
    if (!isTaskMaskPath(path)) {
      throw invalidField("mask.paths", `unknown path ${quoted(path)} (known: ${TASK_MASK_PATHS.join(", ")})`);
    }
    keep[path] = true;
  }
  return keep;
}

export function timestampFromDue(due: Due): Timestamp {
  return { $typeName: "google.protobuf.Timestamp", seconds: due.seconds, nanos: due.nanos };
}

/** A stored task as a ListTasks response; `overdue` is computed from the whole task whatever the mask. */
export function listResponse(task: StoredTask, keep: TaskProjection, now: Due): ListTasksResponse {
  return {
    $typeName: "todo.v2.ListTasksResponse",
    task: {
      $typeName: "todo.v2.Task",
      id: keep.id ? task.id : 0n,
      description: keep.description ? task.description : "",
      done: keep.done ? task.done : false,
      dueDate: keep.due_date && task.due !== undefined ? timestampFromDue(task.due) : undefined,
    },
    overdue: isOverdue(task, now),
  };
}
