// A buyer's whole on-sale in a real browser: sign up, wait in the waiting room until admitted
// (the e2e server asks for proof of work on joins: the page solves it in a worker),
// pick seats on the canvas, hold, pay in the (sandbox) payment window, see the confirmed ticket.
import { expect, test } from '@playwright/test';
import { pickSeatOnCanvas, expectSelected } from './seats';
import { apiJoin, apiRegister, expectAccessible, openSale, shot } from './support';

test('a buyer goes from the waiting room to a confirmed ticket', async ({ page, request }, info) => {
  const sale = await openSale(request, { waitingRoom: { max_active: 1, admit_per_minute: 600 } });

  // Someone got in first and holds the only active place: our buyer has to wait.
  const first = await apiRegister(request, 'First');
  const asFirst = { headers: { authorization: `Bearer ${first.token}` } };
  expect(await apiJoin(request, sale.eventId, first.token)).toBe(202);
  await expect.poll(async () => (await request.get(`/api/events/${sale.eventId}/queue`, asFirst)).status()).toBe(200);

  await page.goto('/');
  await expect(page.getByRole('link', { name: new RegExp(sale.title) })).toBeVisible();
  await expectAccessible(page, 'the event list');
  await shot(page, info, '01-events');

  await page.getByRole('link', { name: new RegExp(sale.title) }).click();
  await expect(page.getByRole('heading', { name: sale.title })).toBeVisible();
  await expectAccessible(page, 'the event page');
  await shot(page, info, '02-event');
  await page.getByRole('link', { name: /대기열 입장|Join the queue/ }).click();

  // Not signed in: sign up, and come straight back to the queue.
  await page.waitForURL(/\/signin/);
  await page.getByRole('link', { name: /회원가입|Sign up/ }).click();
  await page.getByLabel(/이름|Name/).fill('Kim Buyer');
  await page.getByLabel(/이메일|Email/).fill(`buyer-${Date.now()}-${info.project.name}@e2e.test`);
  await page.getByLabel(/비밀번호|Password/).fill('dev-only-password');
  await page.getByRole('button', { name: /회원가입|Sign up/ }).click();
  await page.waitForURL(new RegExp(`/events/${sale.eventId}/queue`));

  const position = page.getByTestId('queue-position');
  await expect(position).toHaveText('1');
  await expect(page.getByText(/^(실시간으로 업데이트 중|Live)$/)).toBeVisible();
  await expectAccessible(page, 'the waiting room');
  await shot(page, info, '03-queue');

  // A refresh keeps the place.
  await page.reload();
  await expect(position).toHaveText('1');

  // The first buyer leaves: the next admission step lets ours in, pushed over the socket.
  await request.delete(`/api/events/${sale.eventId}/queue`, asFirst);
  await page.waitForURL(new RegExp(`/events/${sale.eventId}/seats`), { timeout: 30_000 });

  const canvas = page.getByRole('img', { name: /좌석 배치도|Seat map/ });
  await expect(canvas).toBeVisible();
  const one = await pickSeatOnCanvas(page, canvas);
  await expectSelected(page, 1);
  const two = await pickSeatOnCanvas(page, canvas, [one]);
  await expectSelected(page, 2);
  await expectAccessible(page, 'the seat map');
  await shot(page, info, '04-seats');

  await page.getByRole('button', { name: /좌석 선점하기|Hold these seats/ }).click();
  await expect(page.getByTestId('hold-countdown')).toHaveText(/^(19|20):\d\d$/);
  await expect(page.getByText(one)).toBeVisible();
  await expect(page.getByText(two)).toBeVisible();
  await expectAccessible(page, 'the hold');
  await shot(page, info, '05-hold');

  // The payment window (the Toss sandbox) and back to /checkout/success.
  await page.getByRole('button', { name: /결제하기|Pay/ }).click();
  await page.getByRole('button', { name: 'Pay by card' }).click();
  await page.waitForURL(/\/checkout\/success/);
  await expect(page.getByRole('heading', { name: /예매가 완료되었어요|You are booked/ })).toBeVisible();
  await shot(page, info, '06-paid');

  await page.getByRole('link', { name: /티켓 보기|View ticket/ }).click();
  await expect(page.getByText(/예매 완료|Confirmed/).first()).toBeVisible();
  await expect(page.getByRole('img', { name: /QR/ })).toBeVisible();
  await expectAccessible(page, 'the ticket');
  await shot(page, info, '07-ticket');

  await page.getByRole('link', { name: /내 티켓|My tickets/ }).first().click();
  await expect(page.getByRole('link', { name: new RegExp(one) })).toBeVisible();
});
