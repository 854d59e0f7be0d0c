import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { formatDuration, formatRate, ProgressBar, renderProgress, type ProgressStream } from '../../../src/observability/progress.js';

// src/observability/progress.ts: the progress bar `tessera jobs run` draws (kept with the jobs tests).

function sink(isTTY: boolean, columns?: number): { out: ProgressStream; text: () => string } {
  const s = new PassThrough() as unknown as ProgressStream & PassThrough;
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(s, { isTTY, columns });
  return { out: s, text: () => text };
}

describe('renderProgress', () => {
  it('shows bar, percent, count, rate and ETA', () => {
    expect(renderProgress({ label: 'hourly-samples', done: 3, total: 12, unit: 'partitions', elapsedMs: 90_000, detail: '2026-01-06T03:00Z 1,200/5,000' })).toBe(
      'hourly-samples  [######..................]   25%  3/12 partitions  2.00 partitions/min  ETA 4m30s  2026-01-06T03:00Z 1,200/5,000',
    );
  });

  it('without a total: count, rate and elapsed time only', () => {
    expect(renderProgress({ label: 'x', done: 1500, total: undefined, unit: 'rows', elapsedMs: 3000 })).toBe('x  1,500 rows  500 rows/s  3.0s elapsed');
  });

  it('at the start and at the end', () => {
    expect(renderProgress({ label: 'x', done: 0, total: 4, unit: 'partitions', elapsedMs: 0 })).toBe('x  [........................]    0%  0/4 partitions  0.0s elapsed');
    expect(renderProgress({ label: 'x', done: 4, total: 4, unit: 'partitions', elapsedMs: 7_200_000 })).toBe('x  [########################]  100%  4/4 partitions  2.00 partitions/h  2h00m elapsed');
    expect(renderProgress({ label: 'x', done: 2.5, total: 4, unit: 'partitions', elapsedMs: 5000 })).toContain('2.5/4 partitions');
  });

  it('formats rates and durations in the unit that reads best', () => {
    expect(formatRate(2 / 1000, 'rows')).toBe('2.00 rows/s');
    expect(formatRate(1234 / 1000, 'rows')).toBe('1,234 rows/s');
    expect(formatRate(1 / 60_000, 'partitions')).toBe('1.00 partitions/min');
    expect(formatRate(1 / 7_200_000, 'partitions')).toBe('0.50 partitions/h');
    expect([400, 12_400, 125_000, 3_720_000, 100 * 3_600_000].map(formatDuration)).toEqual(['0.4s', '12s', '2m05s', '1h02m', '4d04h']);
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
  });
});

describe('ProgressBar', () => {
  it('on a terminal redraws one line in place, at most every 100 ms, and ends it on finish', () => {
    const s = sink(true, 200);
    let now = 0;
    const bar = new ProgressBar({ label: 'job', total: 10, unit: 'partitions', out: s.out, clock: () => now });
    expect(bar.mode).toBe('tty');
    bar.update(1);
    now = 50;
    bar.update(2); // too soon: not drawn
    now = 150;
    bar.update(3, 'p3');
    bar.finish();
    const frames = s.text().split('\r\x1b[2K').filter(Boolean);
    expect(frames).toHaveLength(3);
    expect(frames[0]).toMatch(/^job {2}\[##\.+\] {3}10% {2}1\/10 partitions/);
    expect(frames[1]).toMatch(/30% {2}3\/10 partitions .* {2}p3$/);
    expect(frames[2]).toMatch(/30% {2}3\/10 partitions .*p3\n$/);
    expect(s.text()).not.toMatch(/\n(?!$)/); // no line breaks before the final one
  });

  it('elsewhere prints a plain line at most every 5 s', () => {
    const s = sink(false);
    let now = 0;
    const bar = new ProgressBar({ label: 'job', total: 4, unit: 'partitions', out: s.out, clock: () => now });
    expect(bar.mode).toBe('lines');
    for (let i = 1; i <= 4; i++) {
      now = i * 2000;
      bar.update(i);
    }
    bar.finish('4 partitions done');
    expect(s.text().split('\n').filter(Boolean)).toEqual([expect.stringMatching(/25% {2}1\/4/), expect.stringMatching(/100% {2}4\/4/), 'job  4 partitions done']);
  });

  it('is silent in quiet mode (--json)', () => {
    const s = sink(true);
    const bar = new ProgressBar({ label: 'job', total: 4, out: s.out, mode: 'quiet' });
    bar.update(2);
    bar.finish();
    expect(s.text()).toBe('');
  });

  it('clear() wipes the line so others can print, and truncates to the terminal width', () => {
    const s = sink(true, 30);
    let now = 0;
    const bar = new ProgressBar({ label: 'a-rather-long-job-name', total: 4, out: s.out, clock: () => now });
    bar.update(1);
    bar.clear();
    now = 1;
    bar.update(2); // drawn again at once after a clear
    const frames = s.text().split('\r\x1b[2K');
    expect(frames.filter(Boolean)).toHaveLength(2);
    for (const f of frames) expect(f.length).toBeLessThan(30);
  });
});
