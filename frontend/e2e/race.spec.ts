// Two buyers want the same seat: the one who holds first gets it, and the other sees it go while
// looking at the map — it leaves their selection and can no longer be chosen.
import { expect, test } from '@playwright/test';
import { expectSelected } from './seats';
import { apiRegister, openSale, signUp } from './support';

test('the loser of a race for a seat sees it taken live', async ({ browser, request }) => {
  const sale = await openSale(request);
  const seats = `/events/${sale.eventId}/seats`;
  const winner = await (await browser.newContext()).newPage();
  const loser = await (await browser.newContext()).newPage();
  await signUp(winner, seats, 'Winner');
  await signUp(loser, seats, 'Loser');

  // Both choose VIP A-1 in the list view (the keyboard path).
  for (const page of [loser, winner]) {
    await page.getByRole('button', { name: /목록|List/ }).click();
    await page.getByText(/^VIP/).first().click();
    await page.getByRole('button', { name: /VIP A-1\b/ }).click();
    await expectSelected(page, 1);
  }
  await winner.getByRole('button', { name: /좌석 선점하기|Hold these seats/ }).click();
  await expect(winner.getByTestId('hold-countdown')).toBeVisible();
  // English is one click away, and stays chosen.
  await winner.getByRole('button', { name: 'Switch to English' }).click();
  await expect(winner.getByRole('heading', { name: 'Your seats are held' })).toBeVisible();
  await winner.reload();
  await expect(winner.getByRole('heading', { name: 'Your seats are held' })).toBeVisible();
  await expect(winner.locator('html')).toHaveAttribute('lang', 'en');

  // The loser did nothing: the seat leaves the selection and is disabled, pushed over /ws.
  await expect(loser.getByRole('status').filter({ hasText: /VIP A-1/ })).toBeVisible();
  await expectSelected(loser, 0);
  await expect(loser.getByRole('button', { name: /VIP A-1\b/ })).toBeDisabled();

  // At most the event's cap (4) can be chosen; a fifth says why it was not added.
  for (const seat of ['VIP A-2', 'VIP A-3', 'VIP A-4', 'VIP A-5', 'VIP A-6']) {
    await loser.getByRole('button', { name: new RegExp(`${seat}\\b`) }).click();
  }
  await expectSelected(loser, 4);
  await expect(loser.getByRole('status').filter({ hasText: /최대 4석|at most 4/ })).toBeVisible();
});

test('a seat lost at the hold itself is explained and nothing is held', async ({ page, request }) => {
  const sale = await openSale(request);
  // This buyer's socket stops delivering seat changes, so the seat still looks free on screen.
  let deliverSeatChanges = true;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      if (deliverSeatChanges || !String(m).includes('"seats.changed"')) ws.send(m);
    });
  });
  await signUp(page, `/events/${sale.eventId}/seats`, 'Late');
  await page.getByRole('button', { name: /목록|List/ }).click();
  await page.getByText(/^VIP/).first().click();
  await page.getByRole('button', { name: /VIP A-1\b/ }).click();
  await expectSelected(page, 1);

  deliverSeatChanges = false;
  const other = await apiRegister(request, 'Quick');
  const map = await (await request.get(`/api/events/${sale.eventId}/seats`)).json();
  const seat = map.seats.find((s: { label: string }) => s.label === 'VIP A-1');
  const held = await request.post(`/api/events/${sale.eventId}/holds`, {
    headers: { authorization: `Bearer ${other.token}` },
    data: { seat_ids: [seat.id] },
  });
  expect(held.status()).toBe(201);

  await page.getByRole('button', { name: /좌석 선점하기|Hold these seats/ }).click();
  await expect(page.getByRole('alert')).toContainText(/방금 다른 분이 선택한 좌석|Someone just took one of these seats/);
  await expectSelected(page, 0);
  await expect(page.getByTestId('hold-countdown')).toHaveCount(0);
});
