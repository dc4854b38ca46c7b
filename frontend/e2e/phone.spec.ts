// The operator console at a phone's size: it fits without sideways scrolling and stays accessible.
import { expect, test } from '@playwright/test';
import { expectAccessible, shot, signInAsAdmin } from './support';

test('the console on a phone', async ({ page }, info) => {
  await signInAsAdmin(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'nothing scrolls sideways').toBeLessThanOrEqual(0);
  await expectAccessible(page, 'the dashboard on a phone');
  await shot(page, info, '11-console');
});
