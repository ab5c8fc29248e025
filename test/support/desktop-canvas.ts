import type { Page } from 'playwright-core';
import { waitFor } from './wait.js';
import { DESKTOP_HEIGHT, DESKTOP_WIDTH, type Desktop } from './x-desktop.js';

/** The little of HTMLCanvasElement the page-side code uses (the tests build without DOM types). */
export interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> & Iterable<number> } } | null;
}

/**
 * Samples a canvas every `step` px: [r, g, b, ...] row by row; null before there is one.
 * `which`: the page's VNC console canvas (the first wider than 100 px), or the recordings page's
 * player canvas (its `recordingsPlayer.canvas()`).
 */
export function canvasGrid(page: Page, step: number, which: 'console' | 'player' = 'console'): Promise<number[] | null> {
  return page.evaluate(
    ([w, s]) => {
      // Runs in chromium.
      const win = globalThis as unknown as {
        document: { querySelectorAll(q: string): Iterable<CanvasLike> };
        recordingsPlayer?: { canvas(): CanvasLike | null };
      };
      const canvas = w === 'player' ? win.recordingsPlayer?.canvas() : [...win.document.querySelectorAll('canvas')].find((c) => c.width > 100);
      const ctx = canvas && canvas.width >= 100 ? canvas.getContext('2d') : null;
      if (!canvas || !ctx) return null;
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const out: number[] = [];
      for (let y = 0; y < canvas.height; y += s) {
        for (let x = 0; x < canvas.width; x += s) {
          const i = (y * canvas.width + x) * 4;
          out.push(data[i]!, data[i + 1]!, data[i + 2]!);
        }
      }
      return out;
    },
    [which, step] as const,
  );
}

/** Mean absolute difference per channel between the sampled canvas and the X server's own capture. */
function meanDifference(grid: number[], desktop: Desktop, step: number): number {
  const shot = desktop.capture();
  let total = 0;
  let i = 0;
  for (let y = 0; y < DESKTOP_HEIGHT; y += step) {
    for (let x = 0; x < DESKTOP_WIDTH; x += step) {
      const [r, g, b] = shot.rgb(x, y);
      total += Math.abs(r - grid[i]!) + Math.abs(g - grid[i + 1]!) + Math.abs(b - grid[i + 2]!);
      i += 3;
    }
  }
  return total / i;
}

export const CANVAS_STEP = 10;

/**
 * Waits until the page's canvas matches the X server's capture of the desktop (mean difference
 * under 6 per channel, sampled every CANVAS_STEP px) and resolves with that difference. On a
 * timeout, `onTimeout` gets the error and the last difference seen (to add a screenshot and the
 * proxy's output) and what it throws is thrown.
 */
export async function desktopOnCanvas(
  page: Page,
  desktop: Desktop,
  options: { timeoutMs: number; intervalMs: number; onTimeout: (err: Error, lastDiff: number) => Promise<never> },
): Promise<number> {
  const step = CANVAS_STEP;
  let lastDiff = Infinity;
  await waitFor(
    async () => {
      const grid = await canvasGrid(page, step);
      if (!grid || grid.length !== Math.ceil(DESKTOP_WIDTH / step) * Math.ceil(DESKTOP_HEIGHT / step) * 3) return false;
      lastDiff = meanDifference(grid, desktop, step);
      return lastDiff < 6;
    },
    { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs, what: 'the canvas to show the X desktop' },
  ).catch((err: Error) => options.onTimeout(err, lastDiff));
  return lastDiff;
}

/** The colour [r, g, b] of the VNC canvas 5 px in from its bottom-right corner; null before there is a canvas. */
export function canvasCorner(page: Page): Promise<number[] | null> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(q: string): Iterable<CanvasLike> } }).document;
    const c = [...doc.querySelectorAll('canvas')].find((x) => x.width > 100);
    if (c === undefined) return null;
    return [...c.getContext('2d')!.getImageData(c.width - 5, c.height - 5, 1, 1).data].slice(0, 3);
  });
}
