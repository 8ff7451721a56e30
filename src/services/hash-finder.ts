/**
 * hash_name.HashFinder: validates, hands the search to the worker pool with the call's signal, and maps hits to
 * responses. Cancellation, deadlines, disconnects and shutdown all arrive through ctx.signal, which the pool
 * turns into a stop flag the workers read.
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { isBudgetExhausted } from "../errors.ts";
import {
  type HashFinder,
  type HashNameResponse,
  HashNameResponseSchema,
} from "../gen/hash_name/hash_name_pb.ts";
import type { SearchPool } from "../pool/pool.ts";
import { candidateAt } from "../search/candidates.ts";
import type { SearchQuery } from "../search/kernel.ts";
import type { Hit } from "../search/reference.ts";
import { type CallInfo, callInfo } from "../server/call-info.ts";
import { hashQueryFromRequest } from "./validate.ts";

export interface HashFinderOptions {
  pool: SearchPool;
  /** Candidates one call may examine; 0 = unlimited. */
  maximumHashes: number;
}

function responseFor(hit: Hit): HashNameResponse {
  const secret = candidateAt(hit.index);
  return create(HashNameResponseSchema, {
    secret: Buffer.from(secret).toString("base64"),
    hashedName: createHash("sha1").update(secret).digest("base64"),
    hammingDistance: hit.distance,
    candidatesSearched: BigInt(hit.index + 1),
  });
}

/** Starts the search with the call's signal; a refusal by the pool's limits is logged as cause=limits. */
function startSearch(
  pool: SearchPool,
  info: CallInfo,
  signal: AbortSignal,
  query: SearchQuery,
  budget: number,
) {
  try {
    return pool.search(signal, { query, budget, client: info.peer });
  } catch (error) {
    if (ConnectError.from(error).code === Code.ResourceExhausted) info.cause = "limits";
    throw error;
  }
}

export function createHashFinder({ pool, maximumHashes }: HashFinderOptions): ServiceImpl<typeof HashFinder> {
  return {
    async find(req, ctx) {
      const query = hashQueryFromRequest(req, false);
      const info = callInfo(ctx.values);
      const run = startSearch(pool, info, ctx.signal, query, maximumHashes);
      try {
        for await (const hit of run) {
          // Find reports only ideal hits, and the first one ends the search.
          return responseFor(hit);
        }
        throw new Error("search ended without an answer or an error");
      } catch (error) {
        if (isBudgetExhausted(error)) info.cause = "budget";
        throw error;
      } finally {
        info.candidates = run.scanned;
      }
    },

    async *findRange(req, ctx) {
      const query = hashQueryFromRequest(req, true);
      const info = callInfo(ctx.values);
      const run = startSearch(pool, info, ctx.signal, query, maximumHashes);
      info.messages = 0;
      try {
        for await (const hit of run) {
          yield responseFor(hit);
          info.messages++;
        }
      } catch (error) {
        if (isBudgetExhausted(error)) info.cause = "budget";
        throw error;
      } finally {
        info.candidates = run.scanned;
      }
    },
  };
}
