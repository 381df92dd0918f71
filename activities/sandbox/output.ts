/** The last `capBytes` bytes of a stream, kept as bytes so a cut never splits a character until the end. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly capBytes: number) {}

  readonly take = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(bytes);
    this.size += bytes.length;
    // Drop whole chunks that lie entirely before the tail; the rest is trimmed once, at the end.
    while (this.chunks.length > 1 && this.size - (this.chunks[0]?.length ?? 0) >= this.capBytes) {
      this.size -= this.chunks.shift()?.length ?? 0;
      this.truncated = true;
    }
  };

  text(): string {
    const all = Buffer.concat(this.chunks);
    if (all.length <= this.capBytes) return all.toString('utf8');
    this.truncated = true;
    // A tail that starts inside a multi-byte character shows the replacement character: drop it.
    return all.subarray(all.length - this.capBytes).toString('utf8').replace(/^\uFFFD+/, '');
  }
}
