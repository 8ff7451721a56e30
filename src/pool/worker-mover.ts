/**
 * WorkerMover: moves the workers still scanning a stopped search onto the CPU of the calling thread (the event
 * loop, which is about to sleep and so give that CPU up), then gives each its own CPU set back.
 *
 * Why: after a cancel, a worker that has not seen its stop flag is almost always one that is not running: it waits
 * (at the lowest priority) behind another thread on its CPU — one of V8's helper threads compiling or collecting,
 * or the kernel's `kdamond` — often for 2–5 ms, while another CPU sits idle; Linux does not pull it over until a
 * later balancing tick. Taking its CPU away makes Linux migrate it at once (docs/performance.md).
 *
 * A late worker that is running (its CPU time moves between two reads) is left where it is: on a CPU that runs, it
 * sees its flag within microseconds by itself, so it is on a vCPU the host is not running, and moving a running
 * thread waits for a kernel thread on its CPU. The event loop used to wait with it: 1–12 ms, for one move in 40
 * (docs/performance.md).
 */
import { CPU_MASK_BYTES, type CpuAffinity, singleCpuMask } from "./cpu-affinity.ts";
import { threadsInside } from "./shared-state.ts";

/** What one moveHere did with the late workers it found. */
export interface LateWorkers {
  moved: number;
  /** Left where they were because they were running. */
  leftRunning: number;
}

export class WorkerMover {
  readonly #records: Int32Array;
  readonly #affinity: CpuAffinity;
  readonly #target = new Uint8Array(CPU_MASK_BYTES);
  readonly #inside: number[] = [];
  /** The threads moved and not yet given back, with the CPU set each had. */
  readonly #moved: Array<{ tid: number; mask: Uint8Array }> = [];
  /** Masks kept for reuse: a stop must not allocate more than it has to. */
  readonly #spareMasks: Uint8Array[] = [];

  /** @param records the pool's worker records (shared-state.ts) */
  constructor(records: Int32Array, affinity: CpuAffinity) {
    this.#records = records;
    this.#affinity = affinity;
  }

  /**
   * Restricts every worker recorded inside the kernel for the search whose flag is at `stopIndex`, and not running,
   * to the calling thread's current CPU. Call `restore()` once they are out (or the wait is over).
   */
  moveHere(stopIndex: number): LateWorkers {
    const late: LateWorkers = { moved: 0, leftRunning: 0 };
    const tids = threadsInside(this.#records, stopIndex, this.#inside);
    if (tids.length === 0) return late;
    const target = singleCpuMask(this.#affinity.currentCpu(), this.#target);
    for (const tid of tids) {
      const mask = this.#spareMasks.pop() ?? new Uint8Array(CPU_MASK_BYTES);
      // Only a thread whose set could be read is moved (it must be given exactly that set back), and only one not
      // running: reading its set between two reads of its CPU time gives a running one time to show itself.
      const cpuTime = this.#affinity.cpuTimeNs(tid);
      const readable = this.#affinity.get(tid, mask);
      const cpuTimeAgain = cpuTime < 0 ? -1 : this.#affinity.cpuTimeNs(tid);
      if (cpuTimeAgain >= 0 && cpuTimeAgain !== cpuTime) late.leftRunning++;
      else if (readable && cpuTimeAgain >= 0 && this.#affinity.set(tid, target)) {
        this.#moved.push({ tid, mask });
        late.moved++;
        continue;
      }
      this.#spareMasks.push(mask);
    }
    return late;
  }

  /** Gives every moved thread the CPU set it had before. */
  restore(): void {
    for (const { tid, mask } of this.#moved) {
      // A thread that has exited meanwhile (a crashed worker) just fails the call.
      this.#affinity.set(tid, mask);
      this.#spareMasks.push(mask);
    }
    this.#moved.length = 0;
  }
}
