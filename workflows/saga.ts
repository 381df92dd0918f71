import { CancellationScope } from '@temporalio/workflow';
import type { CompensationRecord } from './state';

interface Compensation {
  record: CompensationRecord;
  run: () => Promise<void>;
}

/**
 * Compensations for the world-changing steps of a run. Pushed right after each
 * step succeeds; on failure or cancel they run once each, newest first, in a scope
 * that a cancel cannot interrupt. One failing compensation does not stop the rest.
 */
export class Saga {
  private readonly stack: Compensation[] = [];

  constructor(
    private readonly records: CompensationRecord[],
    private readonly onFailure: (record: CompensationRecord) => void = () => undefined,
  ) {}

  push(name: string, run: () => Promise<void>): void {
    const record: CompensationRecord = { name, status: 'armed' };
    this.records.push(record);
    this.stack.push({ record, run });
  }

  get size(): number {
    return this.stack.length;
  }

  /** Runs every pending compensation in reverse, in a scope a cancel cannot interrupt; returns the names of those that failed. */
  compensate(): Promise<string[]> {
    return CancellationScope.nonCancellable(() => this.unwind());
  }

  /** The undo itself: newest first, each once, one failure never stopping the rest. */
  async unwind(): Promise<string[]> {
    const failed: string[] = [];
    for (let next = this.stack.pop(); next !== undefined; next = this.stack.pop()) {
      try {
        await next.run();
        next.record.status = 'done';
        next.record.at = new Date().toISOString();
      } catch (err) {
        next.record.status = 'failed';
        next.record.at = new Date().toISOString();
        next.record.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        failed.push(next.record.name);
        this.onFailure(next.record);
      }
    }
    return failed;
  }
}
