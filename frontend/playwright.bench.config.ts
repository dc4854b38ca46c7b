import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `loadtests/frontend.sh`: the browser benchmarks, desktop Chromium only.
export default defineConfig({
  ...base,
  testDir: 'bench',
  testMatch: '*.bench.ts',
  timeout: 300_000,
  reporter: [['list']],
  projects: [base.projects![0]!],
});
