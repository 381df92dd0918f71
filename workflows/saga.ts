import { CancellationScope, log } from '@temporalio/workflow';
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

  constructor(private readonly records: CompensationRecord[]) {}

  push(name: string, run: () => Promise<void>): void {
    const record: CompensationRecord = { name, status: 'armed' };
    this.records.push(record);
    this.stack.push({ record, run });
  }

  get size(): number {
    return this.stack.length;
  }

  /** Runs every pending compensation in reverse; returns the names of those that failed. */
  async compensate(): Promise<string[]> {
    const failed: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      while (this.stack.length > 0) {
        const next = this.stack.pop();
        if (next === undefined) break;
        try {
          await next.run();
          next.record.status = 'done';
        } catch (err) {
          next.record.status = 'failed';
          next.record.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
          failed.push(next.record.name);
          log.error('compensation failed', { compensation: next.record.name, error: next.record.error });
        }
      }
    });
    return failed;
  }
}
