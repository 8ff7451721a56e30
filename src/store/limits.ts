/**
 * Limits on what a task may hold, shared by the RPC layer (which validates and names the field) and every store.
 */
import { invalidField } from "../errors.ts";

/** Longest accepted description, in Unicode code points (so an emoji counts once). */
export const MAX_DESCRIPTION_LENGTH = 1000;

/** Why `description` is not acceptable, or `undefined` if it is: empty/blank, or over the length limit. */
export function descriptionProblem(description: string): string | undefined {
  if (description.trim() === "") return "must not be empty";
  // Cheap test first: a string of at most MAX code units has at most MAX code points.
  if (description.length > MAX_DESCRIPTION_LENGTH && countCodePoints(description) > MAX_DESCRIPTION_LENGTH) {
    return `must be at most ${MAX_DESCRIPTION_LENGTH} characters`;
  }
  return undefined;
}

/** Throws `invalidField(field, why)` (INVALID_ARGUMENT naming the field) unless the description is acceptable. */
export function validateDescription(field: string, description: string): string {
  const problem = descriptionProblem(description);
  if (problem !== undefined) throw invalidField(field, problem);
  return description;
}

function countCodePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
