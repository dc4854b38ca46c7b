// The operator's side in a real browser (desktop): sign in, create a venue (with its preview) and an
// event, watch a sale arrive on the live dashboard and heatmap, and get a finance report.
import { expect, test, type APIRequestContext } from '@playwright/test';
import { apiRegister, expectAccessible, shot, signInAsAdmin, unique } from './support';

/** `datetime-local` text for Korea time, `minutes` from now (the console's forms are in KST). */
function kst(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000 + 9 * 3_600_000).toISOString().slice(0, 16);
}

/** A buyer holds one seat and pays by card in the sandbox, all through the public API. */
async function buyOneSeat(request: APIRequestContext, eventId: string) {
  const buyer = await apiRegister(request, 'Dashboard');
  const auth = { authorization: `Bearer ${buyer.token}` };
  const map = await (await request.get(`/api/events/${eventId}/seats`)).json();
  const hold = await request.post(`/api/events/${eventId}/holds`, { headers: auth, data: { seat_ids: [map.seats[0].id] } });
  expect(hold.status(), await hold.text()).toBe(201);
  const reservation = (await hold.json()).reservation;
  const order = await (await request.post('/api/payments/checkout', { headers: auth, data: { reservation_id: reservation.id } })).json();
  const window = new URL(order.checkout_url);
  const approved = await request.post(window.toString(), { form: { outcome: 'approve' }, maxRedirects: 0 });
  const back = new URL(approved.headers()['location']!);
  const confirm = await request.post('/api/payments/confirm', {
    headers: auth,
    data: { payment_key: back.searchParams.get('paymentKey'), order_id: back.searchParams.get('orderId'), amount: Number(back.searchParams.get('amount')) },
  });
  expect(confirm.status(), await confirm.text()).toBe(200);
}

test('an operator creates a venue and an event and watches the sale', async ({ page, request }, info) => {
  await signInAsAdmin(page);
  await expectAccessible(page, 'the dashboard');
  await shot(page, info, '11-console');

  // A venue, seen in its preview before it is made.
  const venue = unique('Olympic Hall');
  await page.getByRole('link', { name: /^(공연장|Venues)$/ }).click();
  await page.getByRole('link', { name: /공연장 만들기|New venue/ }).first().click();
  await page.getByLabel(/공연장 이름|Venue name/).fill(venue);
  await page.getByLabel(/구역 이름|Section name/).first().fill('Floor');
  await page.getByLabel(/줄 수|Rows/).first().fill('6');
  await page.getByLabel(/줄당 좌석 수|Seats per row/).first().fill('12');
  await page.getByLabel(/가격|Price/).first().fill('132000');
  await expect(page.getByText(/72/).first()).toBeVisible();
  await expectAccessible(page, 'the venue form');
  await shot(page, info, '12-venue');
  await page.getByRole('button', { name: /공연장 만들기|Create venue/ }).click();
  await page.waitForURL(/\/admin\/venues$/);
  await expect(page.getByText(venue)).toBeVisible();

  // An event at that venue, on sale from a minute ago.
  const title = unique('Console Live');
  await page.getByRole('link', { name: /^(공연|Events)$/ }).last().click();
  await page.getByRole('link', { name: /공연 만들기|New event/ }).first().click();
  await page.getByLabel(/공연 제목|Title/).fill(title);
  await page.getByLabel(/아티스트|Artist/).fill('IU');
  const venueOption = await page.locator('option', { hasText: venue }).getAttribute('value');
  await page.getByLabel(/^(공연장|Venue)/).selectOption(venueOption!);
  await page.getByLabel(/예매 오픈|Sale opens/).fill(kst(-1));
  await page.getByLabel(/예매 마감|Sale closes/).fill(kst(24 * 60));
  await page.getByLabel(/공연 시작|Starts/).fill(kst(7 * 24 * 60));
  await expectAccessible(page, 'the event form');
  await shot(page, info, '13-event-form');
  // The statistics learn of an event a moment after the catalogue; until then their reads of it
  // answer 404. That moment is made to last here: the dashboard's first reads ask the statistics
  // about an event they cannot know. The dashboard says the figures are on their way, and no panel
  // calls the event "not found".
  const statsOfEvent = /\/api\/admin\/stats\/events\/[0-9a-f-]{36}\/(sections|heatmap)$/;
  const unknown = (url: string) => url.replace(/events\/[0-9a-f-]{36}/, 'events/00000000-0000-7000-8000-000000000000');
  await page.route(statsOfEvent, (route) => route.continue({ url: unknown(route.request().url()) }));
  await page.getByRole('button', { name: /공연 만들기|Create event/ }).click();
  await page.waitForURL(/\/admin\/events\/[0-9a-f-]{36}$/);
  const eventId = page.url().split('/').at(-1)!;
  await expect(page.getByText(/통계가 아직|statistics are not in yet/)).toHaveCount(2);
  const alert = page.getByRole('alert');
  await expect(alert).toHaveCount(0);
  await page.unroute(statsOfEvent);

  // A sale happens; the dashboard shows it without a reload.
  await buyOneSeat(request, eventId);
  const paid = page.locator('li').filter({ hasText: /결제 완료|Paid/ }).first();
  await expect(paid).toContainText('1', { timeout: 60_000 });
  await expect(page.getByRole('img', { name: /히트맵|heatmap/i })).toBeVisible();
  await expect(page.getByText(/72석 중 1석 판매|1 of 72 seats sold/)).toBeVisible({ timeout: 30_000 });
  await expect(alert).toHaveCount(0);
  await expectAccessible(page, 'the event dashboard');
  await shot(page, info, '14-event-dashboard');

  // A sales report for today, built and downloadable.
  await page.getByRole('link', { name: /정산 리포트|Reports/ }).first().click();
  await page.getByLabel(/종류|Kind/).selectOption('sales');
  await page.getByRole('button', { name: /리포트 만들기|Create report/ }).click();
  // Ours, not the daily settlement the platform requests by itself.
  const ours = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: /^(판매|Sales) ·/ }) });
  await expect(ours.getByRole('link', { name: /\.xlsx/ })).toBeVisible({ timeout: 60_000 });
  await expectAccessible(page, 'the reports');
  await shot(page, info, '15-reports');
});
