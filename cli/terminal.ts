/** How `slipway watch` shows a changing block of lines: redrawn in place on a terminal, new lines only elsewhere. */

export interface Output {
  write(text: string): void;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface LiveView {
  show(lines: string[]): void;
}

const ESC = '\u001b[';

/** Redraws the block in place: cursor up over the last drawing, clear to the end of the screen, draw. */
export class RedrawnBlock implements LiveView {
  private drawn = 0;

  constructor(private readonly out: Output) {}

  show(lines: string[]): void {
    // Taller than the terminal, the cursor cannot climb back over the top: keep to the screen.
    const room = Math.max(3, (this.out.rows ?? 1000) - 1);
    const fitted = lines.length > room ? [...lines.slice(0, room - 1), `  … ${lines.length - room + 1} more line(s): slipway status`] : lines;
    const up = this.drawn > 0 ? `${ESC}${this.drawn}A` : '';
    this.out.write(`${up}\r${ESC}J${fitted.map((line) => `${line}\n`).join('')}`);
    this.drawn = fitted.length;
  }
}

/** For logs and pipes: each line once, when it first appears or changes. */
export class ChangedLines implements LiveView {
  private previous = new Set<string>();

  constructor(private readonly out: Output) {}

  show(lines: string[]): void {
    const fresh = lines.filter((line) => !this.previous.has(line));
    if (fresh.length > 0) this.out.write(fresh.map((line) => `${line}\n`).join(''));
    this.previous = new Set(lines);
  }
}
