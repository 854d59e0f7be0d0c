/**
 * A progress bar on stderr for long commands. On a terminal it redraws one line; elsewhere
 * (CI, pipes) it prints a line at most every few seconds so logs stay readable.
 */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly started = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly enabled = true,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  /** Adds to the count and redraws when due. */
  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (now - this.lastDraw >= (this.tty ? 100 : 5000)) this.draw(now);
  }

  /** Final line. */
  finish(): void {
    this.draw(Date.now(), true);
  }

  private draw(now: number, final = false): void {
    if (!this.enabled) return;
    this.lastDraw = now;
    const secs = Math.max((now - this.started) / 1000, 1e-3);
    const rate = Math.round(this.done / secs).toLocaleString('en-US');
    let bar = '';
    if (this.total !== null && this.total > 0) {
      const frac = Math.min(this.done / this.total, 1);
      const width = 28;
      const full = Math.round(frac * width);
      bar = `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% `;
    }
    const text = `${this.label.padEnd(10)} ${bar}${this.done.toLocaleString('en-US')}${this.total !== null ? `/${this.total.toLocaleString('en-US')}` : ''} (${rate}/s, ${secs.toFixed(1)}s)`;
    if (this.tty) this.out.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else this.out.write(text + '\n');
  }
}
