// The operator console at a phone's size: it fits without sideways scrolling and stays accessible.
import { expect, test } from '@playwright/test';
import { ADMIN, expectAccessible, shot } from './support';

test('the console on a phone', async ({ page }, info) => {
  await page.goto('/signin?next=/admin');
  await page.getByLabel(/이메일|Email/).fill(ADMIN.email);
  await page.getByLabel(/비밀번호|Password/).fill(ADMIN.password);
  await page.getByRole('button', { name: /^(로그인|Sign in)$/ }).click();
  await page.waitForURL(/\/admin$/);
  await expect(page.getByRole('heading', { name: /실시간 현황|Live overview/ })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'nothing scrolls sideways').toBeLessThanOrEqual(0);
  await expectAccessible(page, 'the dashboard on a phone');
  await shot(page, info, '11-console');
});
