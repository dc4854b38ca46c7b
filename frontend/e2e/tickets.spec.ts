// After the hold: paying by virtual account shows the transfer details, a paid ticket can be
// refunded, and a hold can be released — all from the buyer's pages.
import { expect, test, type Page } from '@playwright/test';
import { expectSelected } from './seats';
import { expectAccessible, openSale, signUp } from './support';

/** Holds VIP A-1 through the list view and opens the payment window. */
async function holdAndOpenWindow(page: Page) {
  await page.getByRole('button', { name: /목록|List/ }).click();
  await page.getByText(/^VIP/).first().click();
  await page.getByRole('button', { name: /VIP A-1\b/ }).click();
  await expectSelected(page, 1);
  await page.getByRole('button', { name: /좌석 선점하기|Hold these seats/ }).click();
  await page.getByRole('button', { name: /결제하기|Pay/ }).click();
}

test('a virtual-account payment shows where to transfer', async ({ page, request }) => {
  const sale = await openSale(request);
  await signUp(page, `/events/${sale.eventId}/seats`, 'Transfer');
  await holdAndOpenWindow(page);
  await page.getByRole('button', { name: 'Virtual account' }).click();
  await page.waitForURL(/\/checkout\/success/);
  await expect(page.getByRole('heading', { name: /입금을 기다리고 있어요|Waiting for your transfer/ })).toBeVisible();
  await expect(page.getByText(/가상계좌 입금 안내|Virtual account transfer/)).toBeVisible();
  await expect(page.getByText(/^(우리은행|Woori Bank)$/)).toBeVisible();
  await expect(page.getByText(/^[0-9A-Z*-]{8,}$/).first()).toBeVisible();
  await expectAccessible(page, 'the transfer details');

  // The ticket page says the same while the money has not arrived.
  await page.getByRole('link', { name: /티켓 보기|View ticket/ }).click();
  await expect(page.getByText(/결제 대기|Awaiting payment/).first()).toBeVisible();
  await expect(page.getByText(/가상계좌 입금 안내|Virtual account transfer/)).toBeVisible();
});

test('a paid ticket is refunded and a hold released from the ticket pages', async ({ page, request }) => {
  const sale = await openSale(request);
  await signUp(page, `/events/${sale.eventId}/seats`, 'Refund');
  await holdAndOpenWindow(page);
  await page.getByRole('button', { name: 'Pay by card' }).click();
  await page.getByRole('link', { name: /티켓 보기|View ticket/ }).click();
  await expect(page.getByText(/^(예매 완료|Confirmed)$/)).toBeVisible();

  await page.getByRole('button', { name: /환불 요청|Request a refund/ }).click();
  await expect(page.getByText(/전액 환불|full refund/)).toBeVisible();
  await page.getByRole('button', { name: /환불 요청|Request a refund/ }).click();
  await expect(page.getByText(/^(환불됨|Refunded)$/)).toBeVisible();

  // The refunded seat is on sale again: hold it, then let it go from My tickets.
  await page.goto(`/events/${sale.eventId}/seats`);
  await page.getByRole('button', { name: /목록|List/ }).click();
  await page.getByText(/^VIP/).first().click();
  await page.getByRole('button', { name: /VIP A-1\b/ }).click();
  await page.getByRole('button', { name: /좌석 선점하기|Hold these seats/ }).click();
  await expect(page.getByTestId('hold-countdown')).toBeVisible();
  await page.getByRole('link', { name: /내 티켓|My tickets/ }).first().click();
  await page.getByRole('link', { name: /결제 대기|Awaiting payment/ }).click();
  await page.getByRole('button', { name: /선점 취소|Release seats/ }).click();
  await page.getByRole('button', { name: /선점 취소|Release seats/ }).click();
  await expect(page.getByText(/^(취소됨|Cancelled)$/)).toBeVisible();
});
