import { defineConfig, devices } from '@playwright/test';

// Runs against a real `tiketi up` that `./dev test` starts on a free port (TIKETI_E2E_URL), in
// the system's Chromium: no browser is downloaded.
const artifacts = process.env.TIKETI_E2E_ARTIFACTS ?? '../.tiketi/e2e';

export default defineConfig({
  testDir: 'e2e',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  outputDir: `${artifacts}/results`,
  reporter: [['list'], ['html', { open: 'never', outputFolder: `${artifacts}/report` }]],
  use: {
    baseURL: process.env.TIKETI_E2E_URL ?? 'http://127.0.0.1:8080',
    locale: 'ko-KR',
    timezoneId: 'Asia/Seoul',
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    },
  },
  projects: [
    {
      name: 'desktop',
      testIgnore: 'phone.spec.ts',
      use: { ...devices['Desktop Chrome'], channel: undefined, viewport: { width: 1280, height: 860 } },
    },
    // The buyer's journey again at a phone's size, and the console's phone layout.
    { name: 'phone', testMatch: ['buyer.spec.ts', 'phone.spec.ts'], use: { ...devices['Pixel 7'], channel: undefined } },
  ],
});
