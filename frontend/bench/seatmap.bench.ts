// What a buyer's browser pays: JavaScript on the first page, the 50,000-seat map's first paint
// and live updates of 1,000 seats, and the waiting room's proof of work, in headless Chromium.
// Prints RESULT lines.
import { expect, test, type WebSocketRoute } from '@playwright/test';
import { statSync } from 'node:fs';
import { openSale, signUp } from '../e2e/support';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result = (line: string) => console.log(`RESULT ${line}`);

test('JavaScript and CSS on the first page', async ({ page }) => {
  const files: string[] = [];
  page.on('response', (r) => {
    const type = r.request().resourceType();
    if (type === 'script' || type === 'stylesheet') files.push(new URL(r.url()).pathname);
  });
  await page.goto('/');
  await page.waitForLoadState('networkidle');
  const size = (path: string, twin: string) => statSync(`dist${path}${twin}`).size;
  const js = files.filter((f) => f.endsWith('.js'));
  const sum = (list: string[], twin: string) => list.reduce((n, f) => n + size(f, twin), 0);
  result(`first page: ${js.length} scripts, js ${(sum(js, '') / 1024).toFixed(1)} KiB raw, ${(sum(js, '.gz') / 1024).toFixed(1)} KiB gzip, ${(sum(js, '.br') / 1024).toFixed(1)} KiB brotli; css ${(sum(files.filter((f) => f.endsWith('.css')), '.gz') / 1024).toFixed(1)} KiB gzip`);
  expect(sum(js, '.gz')).toBeLessThan(200 * 1024);
});

test('a 50,000-seat map: first paint and 1,000-seat live updates', async ({ page, request }) => {
  const sale = await openSale(request, {
    sections: [
      { name: 'Floor', rows: 50, seats_per_row: 100, price: 198000 },
      { name: 'Stands', rows: 225, seats_per_row: 200, price: 132000 },
    ],
  });
  let socket: WebSocketRoute | undefined;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => ws.send(m));
    socket = ws;
  });
  const seatsPage = `/events/${sale.eventId}/seats`;
  await signUp(page, seatsPage, 'Bench');

  const runs: { paint: number; fetchStart: number; fetchEnd: number; kib: number }[] = [];
  for (let run = 0; run < 3; run += 1) {
    await page.goto(seatsPage);
    await page.waitForFunction(() => performance.getEntriesByName('seatmap:first-paint').length > 0, null, { timeout: 60_000 });
    runs.push(
      await page.evaluate(() => {
        // Where the time went: the first seat-map download, from its start to its last byte.
        const map = performance
          .getEntriesByType('resource')
          .find((e) => /\/api\/events\/[^/]+\/seats$/.test(e.name)) as PerformanceResourceTiming;
        return {
          paint: performance.getEntriesByName('seatmap:first-paint')[0]!.startTime,
          fetchStart: map.startTime,
          fetchEnd: map.responseEnd,
          kib: map.encodedBodySize / 1024,
        };
      }),
    );
  }
  const at = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick)).toFixed(0);
  result(
    `50,000-seat map, navigation to first paint: median ${at((r) => r.paint)} ms (runs ${runs.map((r) => r.paint.toFixed(0)).join(', ')}); ` +
      `map request sent at ${at((r) => r.fetchStart)} ms, received by ${at((r) => r.fetchEnd)} ms (${at((r) => r.kib)} KiB compressed), drawn ${at((r) => r.paint - r.fetchEnd)} ms later`,
  );
  await expect(page.getByText(/^(실시간 좌석 현황|Live seat availability)$/)).toBeVisible();

  const map = await (await request.get(`/api/events/${sale.eventId}/seats`)).json();
  const ids: string[] = map.seats.slice(0, 1000).map((s: { id: string }) => s.id);
  let version: number = map.version;
  const updates: { total: number; draw: number }[] = [];
  for (let run = 0; run < 7; run += 1) {
    version += 1;
    const status = run % 2 === 0 ? 'held' : 'available';
    const before = await page.evaluate(() => performance.getEntriesByName('seatmap:update').length);
    socket!.send(JSON.stringify({ type: 'seats.changed', event_id: sale.eventId, from_version: version, version, seats: ids.map((id) => ({ id, status })) }));
    await page.waitForFunction((n) => performance.getEntriesByName('seatmap:update').length > n, before);
    updates.push(
      await page.evaluate(() => {
        const entry = performance.getEntriesByName('seatmap:update').at(-1) as PerformanceMeasure;
        return { total: entry.duration, draw: (entry.detail as { draw: number }).draw };
      }),
    );
  }
  result(
    `1,000-seat live update, change received to drawn: median ${median(updates.map((u) => u.total)).toFixed(1)} ms, of which redraw ${median(updates.map((u) => u.draw)).toFixed(1)} ms (7 updates, 50,000 seats on screen)`,
  );
});

test('the waiting room\'s proof of work, solved in a worker', async ({ page, request }) => {
  const sale = await openSale(request, { waitingRoom: { max_active: 1, admit_per_minute: 60 } });
  const queuePage = `/events/${sale.eventId}/queue`;
  await signUp(page, queuePage, 'Bench');
  const runs: number[] = [];
  let difficulty = 0;
  for (let run = 0; run < 7; run += 1) {
    if (run > 0) await page.reload();
    const measured = await page.waitForFunction(
      () => {
        const entry = performance.getEntriesByName('queue:proof').at(-1) as PerformanceMeasure | undefined;
        return entry ? { ms: entry.duration, difficulty: (entry.detail as { difficulty: number }).difficulty } : null;
      },
      null,
      { timeout: 120_000 },
    );
    const { ms, difficulty: d } = (await measured.jsonValue())!;
    runs.push(ms);
    difficulty = d;
    await expect(page.getByTestId('queue-position')).toBeVisible();
  }
  result(
    `proof of work at difficulty ${difficulty} (2^${difficulty} hashes expected), ${runs.length} joins: median ${median(runs).toFixed(0)} ms, ` +
      `min ${Math.min(...runs).toFixed(0)}, max ${Math.max(...runs).toFixed(0)} ms`,
  );
});
