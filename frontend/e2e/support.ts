// Shared steps of the end-to-end tests: API set-up through the public API, accessibility checks,
// screenshots kept as artifacts.
import AxeBuilder from '@axe-core/playwright';
import { expect, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { solve } from '../src/lib/proof';

const ARTIFACTS = process.env.TIKETI_E2E_ARTIFACTS ?? '../.tiketi/e2e';
export const ADMIN = {
  email: process.env.TIKETI_E2E_ADMIN_EMAIL ?? 'admin@tiketi.local',
  password: process.env.TIKETI_E2E_ADMIN_PASSWORD ?? 'dev-only-admin-password',
};

let counter = 0;
/** A name no other test run has used. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export async function apiLogin(request: APIRequestContext, email: string, password: string): Promise<string> {
  const answer = await request.post('/api/auth/login', { data: { email, password } });
  expect(answer.status(), await answer.text()).toBe(200);
  return (await answer.json()).access_token as string;
}

export async function apiRegister(request: APIRequestContext, name: string): Promise<{ token: string; email: string }> {
  const email = `${unique(name)}@e2e.test`;
  const answer = await request.post('/api/auth/register', { data: { email, password: 'dev-only-password', name } });
  expect(answer.status(), await answer.text()).toBe(201);
  return { token: (await answer.json()).access_token as string, email };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Joins an event's waiting room through the API, solving the proof of work where the server asks
 * for it (428 `PROOF_REQUIRED`) with the web app's own solver. Answers the join's status code.
 */
export async function apiJoin(request: APIRequestContext, eventId: string, token: string): Promise<number> {
  const url = `/api/events/${eventId}/queue`;
  let answer = await request.post(url, { headers: auth(token) });
  if (answer.status() === 428) {
    const asked = await answer.json();
    const proof = solve(asked.challenge as string, asked.difficulty as number);
    answer = await request.post(url, { headers: { ...auth(token), 'x-queue-proof': proof } });
  }
  return answer.status();
}

export interface Sale {
  eventId: string;
  title: string;
}

/** A venue and an event on sale now, made by the admin through the public API. */
export async function openSale(
  request: APIRequestContext,
  options: { waitingRoom?: { max_active: number; admit_per_minute: number }; sections?: { name: string; rows: number; seats_per_row: number; price: number }[] } = {},
): Promise<Sale> {
  const admin = await apiLogin(request, ADMIN.email, ADMIN.password);
  const venue = await request.post('/api/admin/venues', {
    headers: auth(admin),
    data: {
      name: unique('E2E Hall'),
      sections: options.sections ?? [
        { name: 'VIP', rows: 3, seats_per_row: 8, price: 150000 },
        { name: 'R', rows: 4, seats_per_row: 10, price: 99000 },
      ],
    },
  });
  expect(venue.status(), await venue.text()).toBe(201);
  const now = Date.now();
  const title = unique('E2E Concert');
  const event = await request.post('/api/admin/events', {
    headers: auth(admin),
    data: {
      title,
      artist: 'The Testers',
      venue_id: (await venue.json()).id,
      starts_at: new Date(now + 7 * 86_400_000).toISOString(),
      sale_opens_at: new Date(now - 60_000).toISOString(),
      sale_closes_at: new Date(now + 86_400_000).toISOString(),
      max_seats_per_order: 4,
      waiting_room: options.waitingRoom ? { enabled: true, ...options.waitingRoom } : { enabled: false, max_active: 100, admit_per_minute: 600 },
    },
  });
  expect(event.status(), await event.text()).toBe(201);
  return { eventId: (await event.json()).id as string, title };
}

/** Signs up through the page, ending on `next`. */
export async function signUp(page: Page, next: string, name = 'Buyer'): Promise<string> {
  const email = `${unique(name.toLowerCase())}@e2e.test`;
  await page.goto(`/signup?next=${encodeURIComponent(next)}`);
  await page.getByLabel(/이름|Name/).fill(name);
  await page.getByLabel(/이메일|Email/).fill(email);
  await page.getByLabel(/비밀번호|Password/).fill('dev-only-password');
  await page.getByRole('button', { name: /회원가입|Sign up/ }).click();
  await page.waitForURL((url) => url.pathname === next.split('?')[0]);
  return email;
}

/** Signs the admin in through the page and lands on the console's dashboard. */
export async function signInAsAdmin(page: Page) {
  await page.goto('/signin?next=/admin');
  await page.getByLabel(/이메일|Email/).fill(ADMIN.email);
  await page.getByLabel(/비밀번호|Password/).fill(ADMIN.password);
  await page.getByRole('button', { name: /^(로그인|Sign in)$/ }).click();
  await page.waitForURL(/\/admin$/);
  await expect(page.getByRole('heading', { name: /실시간 현황|Live overview/ })).toBeVisible();
}

/** No WCAG 2 A/AA violation that axe can find on the page as it is now. */
export async function expectAccessible(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const found = results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')})`);
  expect(found, `accessibility of ${what}`).toEqual([]);
}

/** A full-page screenshot kept in the artifacts, named by project and step. */
export async function shot(page: Page, info: TestInfo, name: string) {
  const dir = `${ARTIFACTS}/screenshots`;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: `${dir}/${info.project.name}-${name}.png`, fullPage: true });
}
